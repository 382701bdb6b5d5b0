"""vifs on Linux bridges: taps named vif<domid>.<devid>, stable MACs, real
packets. The daemon runs inside a private network namespace, so its taps and
bridges never touch the host's network."""
import re
import subprocess
import uuid

import pytest

from conftest import DOMUS, agent, domains, pv_cfg, wait_for, wait_ready


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@pytest.fixture
def netns(instance):
    name = "dt" + uuid.uuid4().hex[:8]
    sh("ip", "netns", "add", name)
    ns = ["ip", "netns", "exec", name]
    for br, addr in (("xenbr0", "10.77.0.1/24"), ("xenbr1", "10.77.1.1/24"),
                     ("xenbr2", None)):
        sh(*ns, "ip", "link", "add", br, "type", "bridge")
        sh(*ns, "ip", "link", "set", br, "up")
        if addr:
            sh(*ns, "ip", "addr", "add", addr, "dev", br)
    sh(*ns, "ip", "link", "set", "lo", "up")
    # The daemon (and so every tap it makes) lives in the namespace.
    subprocess.run(ns + ["env", f"DOMUS_ROOT={instance.root}", str(DOMUS), "daemon", "start"],
                   check=True)
    yield ns
    subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"],
                   env=instance.env, capture_output=True, timeout=60)
    sh("ip", "netns", "del", name, check=False)


def links(ns):
    return sh(*ns, "ip", "-o", "link", "show").stdout


def test_vifs_on_bridges_with_macs_in_order(instance, netns):
    """Seed 000 (titanic): three vifs with fixed MACs on three bridges."""
    vifs = ("vif = [ 'mac=aa:73:65:63:6f:75, bridge=xenbr0', "
            "'mac=aa:73:65:63:6f:76, bridge=xenbr1', 'mac=aa:73:65:63:6f:77, bridge=xenbr2' ]")
    cfg = pv_cfg(instance, "titanic", more=vifs,
                 extra="domus.net0=10.77.0.2/24 domus.net1=10.77.1.2/24")
    instance.run("create", cfg)
    wait_ready(instance, "titanic")
    out = links(netns)
    for devid, br in enumerate(("xenbr0", "xenbr1", "xenbr2")):
        assert re.search(rf"vif1\.{devid}.*master {br}", out), out
    with agent(instance, "titanic") as ga:
        for i, mac in enumerate(("aa:73:65:63:6f:75", "aa:73:65:63:6f:76", "aa:73:65:63:6f:77")):
            rc, got, _ = ga.exec(f"cat /sys/class/net/eth{i}/address")
            assert rc == 0 and got.strip() == mac
    assert sh(*netns, "ping", "-c", "2", "-W", "5", "10.77.0.2").returncode == 0
    assert sh(*netns, "ping", "-c", "2", "-W", "5", "10.77.1.2").returncode == 0
    instance.run("destroy", "titanic")
    assert "vif1." not in links(netns)


def test_generated_mac_is_stable_and_vifname(instance, netns):
    cfg = pv_cfg(instance, "stable", more="vif = [ 'bridge=xenbr0, vifname=stable-eth0' ]")
    macs = []
    for _ in range(2):
        instance.run("create", cfg)
        wait_ready(instance, "stable", count=len(macs) + 1)
        assert re.search(r"stable-eth0.*master xenbr0", links(netns))
        with agent(instance, "stable") as ga:
            rc, mac, _ = ga.exec("cat /sys/class/net/eth0/address")
            assert rc == 0
        macs.append(mac.strip())
        instance.run("destroy", "stable")
        wait_for(lambda: "stable-eth0" not in links(netns), 10, "tap removal")
    assert macs[0] == macs[1]
    assert macs[0].startswith("00:16:3e:")


def test_vifname_in_use_is_refused(instance, netns):
    sh(*netns, "ip", "link", "add", "taken0", "type", "veth", "peer", "name", "taken1")
    cfg = pv_cfg(instance, "clash", more="vif = [ 'bridge=xenbr0, vifname=taken0' ]")
    p = instance.run("create", cfg, check=False)
    assert p.returncode == 1 and "'taken0' already exists" in p.stderr
    assert domains(instance) == {}
