"""vifs on Linux bridges: taps named vif<domid>.<devid>, stable MACs, real
packets. The daemon runs inside a private network namespace, so its taps and
bridges never touch the host's network."""
import re
import subprocess

from conftest import agent, domains, pv_cfg, wait_for, wait_ready


def test_vifs_on_bridges_with_macs_in_order(instance, netns):
    """Seed 000 (titanic): three vifs with fixed MACs on three bridges."""
    for br, addr in (("xenbr0", "10.77.0.1/24"), ("xenbr1", "10.77.1.1/24"), ("xenbr2", None)):
        netns.bridge(br, addr)
    # xenbr0 has an uplink; its MAC (the bridge's, the lowest of its ports)
    # must not change when the guest's taps join: they get fe:ff:ff:ff:ff:ff.
    netns.sh("ip", "link", "add", "uplink0", "address", "fa:00:00:00:00:01", "type", "veth",
             "peer", "name", "uplink0p")
    netns.sh("ip", "link", "set", "uplink0", "master", "xenbr0", "up")
    bridge_mac = netns.sh("cat", "/sys/class/net/xenbr0/address").stdout.strip()
    vifs = ("vif = [ 'mac=aa:73:65:63:6f:75, bridge=xenbr0', "
            "'mac=aa:73:65:63:6f:76, bridge=xenbr1', 'mac=aa:73:65:63:6f:77, bridge=xenbr2' ]")
    cfg = pv_cfg(instance, "titanic", more=vifs,
                 extra="domus.net0=10.77.0.2/24 domus.net1=10.77.1.2/24")
    instance.run("create", cfg)
    wait_ready(instance, "titanic")
    out = netns.links()
    for devid, br in enumerate(("xenbr0", "xenbr1", "xenbr2")):
        assert re.search(rf"vif1\.{devid}.*master {br}", out), out
        tap = netns.sh("cat", f"/sys/class/net/vif1.{devid}/address").stdout.strip()
        assert tap == "fe:ff:ff:ff:ff:ff", tap
    assert bridge_mac == "fa:00:00:00:00:01"
    assert netns.sh("cat", "/sys/class/net/xenbr0/address").stdout.strip() == bridge_mac
    with agent(instance, "titanic") as ga:
        for i, mac in enumerate(("aa:73:65:63:6f:75", "aa:73:65:63:6f:76", "aa:73:65:63:6f:77")):
            rc, got, _ = ga.exec(f"cat /sys/class/net/eth{i}/address")
            assert rc == 0 and got.strip() == mac
    assert netns.sh("ping", "-c", "2", "-W", "5", "10.77.0.2").returncode == 0
    assert netns.sh("ping", "-c", "2", "-W", "5", "10.77.1.2").returncode == 0
    instance.run("destroy", "titanic")
    assert "vif1." not in netns.links()


def test_generated_mac_is_stable_and_vifname(instance, netns):
    netns.bridge("xenbr0")
    cfg = pv_cfg(instance, "stable", more="vif = [ 'bridge=xenbr0, vifname=stable-eth0' ]")
    macs = []
    for _ in range(2):
        instance.run("create", cfg)
        wait_ready(instance, "stable", count=len(macs) + 1)
        assert re.search(r"stable-eth0.*master xenbr0", netns.links())
        with agent(instance, "stable") as ga:
            rc, mac, _ = ga.exec("cat /sys/class/net/eth0/address")
            assert rc == 0
        macs.append(mac.strip())
        instance.run("destroy", "stable")
        wait_for(lambda: "stable-eth0" not in netns.links(), 10, "tap removal")
    assert macs[0] == macs[1]
    assert macs[0].startswith("00:16:3e:")


def test_vifname_in_use_is_refused(instance, netns):
    netns.bridge("xenbr0")
    netns.sh("ip", "link", "add", "taken0", "type", "veth", "peer", "name", "taken1")
    cfg = pv_cfg(instance, "clash", more="vif = [ 'bridge=xenbr0, vifname=taken0' ]")
    p = instance.run("create", cfg, check=False)
    assert p.returncode == 1 and "'taken0' already exists" in p.stderr
    assert domains(instance) == {}
