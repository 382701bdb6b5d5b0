"""Managed networks: network-create --nat gives guests a DHCP lease, DNS and
a way out through the host's masquerade, but not the host's management
address; --bridge and --ovs; networks persist across daemon restarts;
network-destroy leaves nothing behind."""
import os
import pathlib
import shutil
import subprocess
import uuid

import pytest

from conftest import DOMUS, Netns, agent, pv_cfg, wait_ready
from netkit import OvsNetns, can_ping, have


@pytest.fixture
def nat_host(instance):
    """A "host" namespace (daemon inside, /etc/hosts of its own) wired to a
    "remote" namespace at 10.99.0.2 by a veth; the host's management
    address on that link is 10.99.0.1."""
    if not have("dnsmasq", "nft"):
        pytest.skip("dnsmasq or nft missing (dnsmasq-base, nftables)")
    host = Netns("dt" + uuid.uuid4().hex[:8])
    remote = Netns(host.name + "r")
    etc = pathlib.Path("/etc/netns") / host.name
    etc.mkdir(parents=True)
    (etc / "hosts").write_text("127.0.0.1 localhost\n10.99.0.2 remote.test\n")
    for ns in (host, remote):
        subprocess.run(["ip", "netns", "add", ns.name], check=True)
        ns.sh("ip", "link", "set", "lo", "up")
    try:
        host.sh("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "peer0")
        host.sh("ip", "link", "set", "peer0", "netns", remote.name)
        host.sh("ip", "addr", "add", "10.99.0.1/24", "dev", "uplink")
        host.sh("ip", "link", "set", "uplink", "up")
        remote.sh("ip", "addr", "add", "10.99.0.2/24", "dev", "peer0")
        remote.sh("ip", "link", "set", "peer0", "up")
        subprocess.run(host.prefix + ["env", f"DOMUS_ROOT={instance.root}", str(DOMUS),
                                      "daemon", "start"], check=True)
        yield host, remote
    finally:
        subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"], env=instance.env,
                       capture_output=True, timeout=60)
        instance.run("network-destroy", "natnet", check=False)  # stops dnsmasq
        subprocess.run([str(DOMUS), "daemon", "stop"], env=instance.env,
                       capture_output=True, timeout=60)
        for ns in (host, remote):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)


def test_nat_network(instance, nat_host):
    host, remote = nat_host
    instance.run("network-create", "natnet", "--nat", "10.200.0.0/24")
    out = instance.run("network-list").stdout
    assert "natnet" in out and "10.200.0.0/24" in out and "10.200.0.1" in out and " up" in out
    cfg = pv_cfg(instance, "natty", extra="domus.net0=dhcp",
                 more="vif = [ 'mac=00:16:3e:20:00:02, bridge=natnet' ]")
    instance.run("create", cfg)
    wait_ready(instance, "natty")
    with agent(instance, "natty") as ga:
        rc, out, _ = ga.exec("ip -4 addr show eth0")
        assert rc == 0 and "10.200.0." in out, out
        _, out, _ = ga.exec("nslookup remote.test")  # rc 1: no upstream for AAAA here
        assert "Name:\tremote.test\nAddress: 10.99.0.2" in out, out
        assert can_ping(ga, "10.200.0.1"), "gateway unreachable"
        assert can_ping(ga, "10.99.0.2"), "remote unreachable through the masquerade"
        assert not can_ping(ga, "10.99.0.1", count=1), "host management address reachable"
    leases = instance.root / "var/lib/domus/net/natnet.leases"
    assert "00:16:3e:20:00:02" in leases.read_text()
    # persistence: a new daemon finds the network up, or brings it up
    instance.run("destroy", "natty")
    instance.run("daemon", "stop")
    host.sh("ip", "link", "del", "natnet")
    subprocess.run(host.prefix + ["env", f"DOMUS_ROOT={instance.root}", str(DOMUS), "daemon",
                                  "start"], check=True)
    assert "natnet" in host.links()
    assert " up" in instance.run("network-list").stdout
    instance.run("network-destroy", "natnet")
    assert "natnet" not in host.links()
    assert "domus_" not in host.sh("nft", "list", "tables").stdout
    assert "natnet" not in instance.run("network-list").stdout


def test_bridge_and_ovs_networks_and_bad_input(instance, netns):
    instance.run("network-create", "plain0", "--bridge")
    assert "plain0" in netns.links()
    for args, msg in ((["plain0", "--bridge"], "already exists"),
                      (["lo", "--bridge"], "already exists"),
                      (["bad/name", "--bridge"], "invalid network name"),
                      (["n1", "--nat", "10.1.2.3"], "needs a subnet"),
                      (["n1", "--nat", "10.1.0.0/31"], "needs a subnet")):
        p = instance.run("network-create", *args, check=False)
        assert p.returncode != 0 and msg in p.stderr, (args, p.stderr)
    assert instance.run("network-destroy", "nosuch", check=False).returncode != 0
    instance.run("network-destroy", "plain0")
    assert "plain0" not in netns.links()
