"""Antispoofing: a guest that changes its MAC, or sends IPv4/ARP from an
address its vif's ip= does not list, loses those frames while its
legitimate traffic flows (nftables bridge family on Linux bridges, OpenFlow
on Open vSwitch); and nothing of a domain survives it, even when the daemon
died first."""
import json
import os
import signal
import subprocess

import pytest

from conftest import DOMUS, agent, domains, pv_cfg, qemu_pids, wait_for, wait_ready
from netkit import can_ping, ovs_netns, push_tool, wait_gone  # noqa: F401 (fixture)

MAC = "00:16:3e:5a:00:01"


def spoof_checks(instance, name, ip_enforced=True):
    """Run inside the guest: legitimate traffic, then a forged source IP
    (dropped only with ip=), then a forged MAC; each must behave."""
    with agent(instance, name) as ga:
        assert can_ping(ga, "10.77.0.1"), "legitimate traffic blocked"
        assert ga.exec("ip addr add 10.77.0.50/24 dev eth0")[0] == 0
        assert can_ping(ga, "10.77.0.1 -I 10.77.0.50", count=2) != ip_enforced, \
            "forged IP passed" if ip_enforced else "other IP blocked without ip="
        assert ga.exec("ip addr del 10.77.0.50/24 dev eth0")[0] == 0
        assert can_ping(ga, "10.77.0.1"), "legitimate traffic blocked after IP spoof"
        assert ga.exec("ip link set eth0 address 00:16:3e:66:66:66")[0] == 0
        assert not can_ping(ga, "10.77.0.1", count=2), "forged MAC passed"
        assert ga.exec(f"ip link set eth0 address {MAC}")[0] == 0
        assert can_ping(ga, "10.77.0.1", count=3), "legitimate traffic blocked after MAC spoof"


def nft_tables(ns):
    return ns.sh("nft", "list", "tables", "bridge").stdout


@pytest.mark.parametrize("ip", [True, False], ids=["ip", "mac-only"])
def test_antispoof_linux_bridge(instance, netns, ip):
    if not subprocess.run(["which", "nft"], capture_output=True).returncode == 0:
        pytest.skip("nft is not installed (nftables)")
    netns.bridge("xenbr0", "10.77.0.1/24")
    cfg = pv_cfg(instance, "liar", extra="domus.net0=10.77.0.2/24",
                 more=f"vif = [ 'mac={MAC}, bridge=xenbr0{', ip=10.77.0.2' if ip else ''}' ]")
    instance.run("create", cfg)
    wait_ready(instance, "liar")
    assert "domus_" in nft_tables(netns)
    spoof_checks(instance, "liar", ip_enforced=ip)
    instance.run("destroy", "liar")
    wait_gone(netns, "vif")
    assert "domus_" not in nft_tables(netns)


def test_antispoof_ovs(instance, ovs_netns):
    ns = ovs_netns
    ns.ovs_bridge("ovsbr")
    ns.internal_port("ovsbr", "h0", "10.77.0.1/24")
    cfg = pv_cfg(instance, "liar", extra="domus.net0=10.77.0.2/24",
                 more=f"vif = [ 'mac={MAC}, bridge=ovsbr, ip=10.77.0.2' ]")
    instance.run("create", cfg)
    wait_ready(instance, "liar")
    assert "nw_src=10.77.0.2" in ns.flows("ovsbr")
    assert "table netdev domus_" in ns.sh("nft", "list", "tables").stdout, \
        "the tap is not kept from the host's stack"
    spoof_checks(instance, "liar")
    instance.run("destroy", "liar")
    wait_gone(ns, "vif")
    assert "nw_src" not in ns.flows("ovsbr")
    assert "domus_" not in ns.sh("nft", "list", "tables").stdout
    assert ns.vsctl("list-ports", "ovsbr").stdout.split() == ["h0"]


def test_reconcile_after_daemon_crash(instance, ovs_netns):
    """The daemon is killed, then the guest's QEMU: the next daemon removes
    the OVS port, its flows and the nftables table of the ended domain, and
    keeps those of a domain still running."""
    ns = ovs_netns
    ns.ovs_bridge("ovsbr")
    ns.bridge("xenbr0")
    more = "vif = [ 'bridge=ovsbr, ip=10.77.0.{n}', 'bridge=xenbr0' ]"
    for n, name in ((2, "gone"), (3, "kept")):
        instance.run("create", pv_cfg(instance, name, more=more.format(n=n)))
    ids = {n: d["domid"] for n, d in domains(instance).items()}
    assert len(ns.vsctl("list-ports", "ovsbr").stdout.split()) == 2
    pid = int((instance.root / "run/domus/domusd.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: instance.run("daemon", "status", check=False).returncode == 3, 10,
             "daemon death")
    state = instance.root / f"run/domus/dom/{ids['gone']}/state.json"
    os.kill(json.loads(state.read_text())["pid"], signal.SIGKILL)
    wait_for(lambda: len(qemu_pids(instance)) == 1, 10, "QEMU death")
    subprocess.run(ns.prefix + ["env", f"DOMUS_ROOT={instance.root}", str(DOMUS), "daemon",
                                "start"], check=True, env=ns.env)
    assert list(domains(instance)) == ["kept"]
    assert ns.vsctl("list-ports", "ovsbr").stdout.split() == [f"vif{ids['kept']}.0"]
    flows = ns.flows("ovsbr")
    assert "nw_src=10.77.0.3" in flows and "nw_src=10.77.0.2" not in flows
    tables = nft_tables(ns)
    assert f"_{ids['kept']}_1" in tables and f"_{ids['gone']}_1" not in tables


def ipv6_checks(instance, ns, name):
    """ip= lists 10.77.0.2, fd00::2 and fd00::3: IPv6 from fd00::2 and the
    link-local address flows; from fd00::50 it is dropped; the guest answers
    neighbour solicitations for fd00::3 and fd00::77 (proxy NDP), and the host
    learns only the listed one."""
    with agent(instance, name) as ga:
        ip = push_tool(ga, "ip")
        for cmd in (f"{ip} -6 addr add fd00::2/64 dev eth0 nodad",
                    "sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'",
                    "sh -c 'echo 1 > /proc/sys/net/ipv6/conf/eth0/proxy_ndp'",
                    f"{ip} -6 neigh add proxy fd00::3 dev eth0",
                    f"{ip} -6 neigh add proxy fd00::77 dev eth0"):
            assert ga.exec(cmd)[0] == 0, cmd
        assert can_ping(ga, "-6 fd00::1"), "legitimate IPv6 traffic blocked"
        assert can_ping(ga, "-6 fe80::1%eth0"), "link-local IPv6 traffic blocked"
        assert ga.exec(f"{ip} -6 addr add fd00::50/64 dev eth0 nodad")[0] == 0
        assert not can_ping(ga, "-6 -I fd00::50 fd00::1"), "forged IPv6 source passed"
        assert ga.exec(f"{ip} -6 addr del fd00::50/64 dev eth0")[0] == 0
        assert can_ping(ga, "-6 fd00::1"), "legitimate IPv6 traffic blocked after the spoof"
        for target in ("fd00::3", "fd00::77"):
            ns.sh("ping", "-6", "-c", "2", "-W", "1", target, check=False)
        assert MAC in ns.sh("ip", "-6", "neigh", "show", "fd00::3").stdout, \
            "advertisement of a listed target lost"
        assert MAC not in ns.sh("ip", "-6", "neigh", "show", "fd00::77").stdout, \
            "advertisement of an unlisted target passed"


IP6 = "ip=10.77.0.2 fd00::2 fd00::3"


def test_antispoof_ipv6_linux_bridge(instance, netns):
    netns.bridge("xenbr0", "10.77.0.1/24")
    netns.sh("ip", "-6", "addr", "add", "fd00::1/64", "dev", "xenbr0", "nodad")
    netns.sh("ip", "-6", "addr", "add", "fe80::1/64", "dev", "xenbr0", "nodad")
    cfg = pv_cfg(instance, "liar6", extra="domus.net0=10.77.0.2/24",
                 more=f"vif = [ 'mac={MAC}, bridge=xenbr0, {IP6}' ]")
    instance.run("create", cfg)
    wait_ready(instance, "liar6")
    ipv6_checks(instance, netns, "liar6")


def test_antispoof_ipv6_ovs(instance, ovs_netns):
    ns = ovs_netns
    ns.ovs_bridge("ovsbr")
    ns.internal_port("ovsbr", "h0", "10.77.0.1/24")
    ns.sh("ip", "-6", "addr", "add", "fd00::1/64", "dev", "h0", "nodad")
    ns.sh("ip", "-6", "addr", "add", "fe80::1/64", "dev", "h0", "nodad")
    cfg = pv_cfg(instance, "liar6", extra="domus.net0=10.77.0.2/24",
                 more=f"vif = [ 'mac={MAC}, bridge=ovsbr, {IP6}' ]")
    instance.run("create", cfg)
    wait_ready(instance, "liar6")
    assert "nd_target=fd00::3" in ns.flows("ovsbr")
    ipv6_checks(instance, ns, "liar6")
