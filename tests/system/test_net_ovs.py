"""vifs on Open vSwitch: access ports (bridge=NAME.VLAN), trunks
(bridge=NAME:V1:V2), isolation between VLANs with real packets, clean
tear-down and refusal of bad specs. Each test runs its own Open vSwitch in
its own namespace (see netkit.py)."""
import re

from conftest import agent, domains, pv_cfg, wait_ready
from netkit import can_ping, ovs_netns, wait_gone  # noqa: F401 (fixture)

VIF = "vif = [ 'mac=00:16:3e:72:00:{n:02x}, bridge={br}' ]"


def guest(instance, name, n, br, addr):
    cfg = pv_cfg(instance, name, more=VIF.format(n=n, br=br),
                 extra=f"domus.net0={addr}/24")
    instance.run("create", cfg)
    return name


def test_vlan_access_ports_isolate(instance, ovs_netns):
    ns = ovs_netns
    ns.ovs_bridge("ovsbr")
    ns.internal_port("ovsbr", "h72", "10.72.0.1/24", tag=72)
    a = guest(instance, "a72", 1, "ovsbr.72", "10.72.0.2")
    b = guest(instance, "b72", 2, "ovsbr.72", "10.72.0.3")
    c = guest(instance, "c73", 3, "ovsbr.73", "10.72.0.4")
    for g in (a, b, c):
        wait_ready(instance, g)
    ids = {g: domains(instance)[g]["domid"] for g in (a, b, c)}
    for g, tag in ((a, "72"), (b, "72"), (c, "73")):
        port = f"vif{ids[g]}.0"
        assert ns.vsctl("get", "port", port, "tag").stdout.strip() == tag
        assert ns.vsctl("get", "interface", port, "external_ids:domus-domid").stdout.strip() \
            == f'"{ids[g]}"'
    with agent(instance, a) as ga:
        assert can_ping(ga, "10.72.0.3")
        assert can_ping(ga, "10.72.0.1")
        assert not can_ping(ga, "10.72.0.4", count=1)
    with agent(instance, c) as gc:
        assert not can_ping(gc, "10.72.0.2", count=1)
        assert not can_ping(gc, "10.72.0.3", count=1)
        assert not can_ping(gc, "10.72.0.1", count=1)
    assert ns.sh("ping", "-c", "1", "-W", "3", "10.72.0.3").returncode == 0
    assert ns.sh("ping", "-c", "1", "-W", "2", "10.72.0.4", check=False).returncode != 0
    for g in (a, b, c):
        instance.run("destroy", g)
    wait_gone(ns, "vif")
    assert ns.vsctl("list-ports", "ovsbr").stdout.split() == ["h72"]
    assert "cookie=0x0," in ns.flows("ovsbr")
    assert not re.search(r"cookie=0x(?!0,)", ns.flows("ovsbr"))


def rx_packets(ga):
    rc, out, _ = ga.exec("cat /sys/class/net/eth0/statistics/rx_packets")
    assert rc == 0
    return int(out)


def test_trunk_port_carries_both_vlans_tagged(instance, ovs_netns):
    """The trunk guest receives VLAN 72 and 73 broadcasts, but tagged: its
    untagged address is unreachable from either VLAN."""
    ns = ovs_netns
    ns.ovs_bridge("ovsbr")
    ns.internal_port("ovsbr", "h72", "10.72.0.1/24", tag=72)
    ns.internal_port("ovsbr", "h73", "10.73.0.1/24", tag=73)
    t = guest(instance, "trunk", 9, "ovsbr:72:73", "10.72.0.9")
    wait_ready(instance, t)
    port = f"vif{domains(instance)[t]['domid']}.0"
    assert ns.vsctl("get", "port", port, "trunks").stdout.strip() == "[72, 73]"
    with agent(instance, t) as ga:
        for addr in ("10.72.0.99", "10.73.0.99"):
            before = rx_packets(ga)
            ns.sh("ping", "-c", "3", "-W", "1", addr, check=False)  # ARP broadcasts
            assert rx_packets(ga) >= before + 3, f"no frames from {addr}'s VLAN"
    assert ns.sh("ping", "-c", "1", "-W", "2", "10.72.0.9", check=False).returncode != 0


def test_bad_vif_specs_refused_before_anything_is_created(instance, ovs_netns):
    ns = ovs_netns
    ns.ovs_bridge("ovsbr")
    ns.bridge("lbr0")
    ns.sh("ip", "link", "add", "taken0", "type", "veth", "peer", "name", "taken1")
    cases = [
        ("bridge=nosuchbr", "bridge 'nosuchbr' does not exist"),
        ("bridge=ovsbr.4095", "not a number from 1 to 4094"),
        ("bridge=ovsbr.0", "not a number from 1 to 4094"),
        ("bridge=ovsbr:72:5000", "not a number from 1 to 4094"),
        ("bridge=lbr0.72", "VLANs need an Open vSwitch bridge"),
        ("bridge=ovsbr, mac=00:16:3e:00:00", "invalid mac"),
        ("bridge=ovsbr, vifname=taken0", "'taken0' already exists"),
    ]
    for spec, msg in cases:
        cfg = pv_cfg(instance, "bad", more=f"vif = [ '{spec}' ]")
        p = instance.run("create", cfg, check=False)
        assert p.returncode != 0 and msg in p.stderr, (spec, p.stderr)
        assert domains(instance) == {}
    cfg = pv_cfg(instance, "two", more="vif = [ 'mac=00:16:3e:01:01:01, bridge=ovsbr', "
                 "'mac=00:16:3e:01:01:01, bridge=ovsbr' ]")
    p = instance.run("create", cfg, check=False)
    assert p.returncode != 0 and "already used" in p.stderr, p.stderr
    assert ns.vsctl("list-ports", "ovsbr").stdout.split() == []
    assert "vif" not in ns.links()
