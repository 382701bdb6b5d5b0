"""rate= limits: iperf3 inside a guest measures what it can send and receive
through a rate-limited vif; both must be within 15% of the configured rate,
on a Linux bridge and on Open vSwitch. The host's iperf3 and its libraries
are copied into the guest's /tmp (the guest kit has only busybox)."""
import json
import subprocess

import pytest

from conftest import agent, pv_cfg, wait_ready
from netkit import have, ovs_netns, push_tool  # noqa: F401 (fixture)

RATE = 10_000_000  # bits/s: rate=10Mb/s


def measure(ga, iperf, server, reverse):
    rc, out, err = ga.exec(f"{iperf} -c {server} -t 8 -O 2 -J{' -R' if reverse else ''}",
                           timeout=60)
    assert rc == 0, out + err
    return json.loads(out)["end"]["sum_received"]["bits_per_second"]


def check_rate(instance, ns, bridge, server_addr, reverse, via=None):
    """Measure what the guest sends (REVERSE False) or receives (True). VIA:
    the host's ports on the bridge, one of whose MACs the guest must have
    resolved for the server (not its tap's: the host's stack must not
    answer through the tap, around the switch)."""
    cfg = pv_cfg(instance, "slow", extra="domus.net0=10.77.0.2/24",
                 more=f"vif = [ 'bridge={bridge}, rate=10Mb/s' ]")
    instance.run("create", cfg)
    wait_ready(instance, "slow")
    server = subprocess.Popen(ns.prefix + ["iperf3", "-s"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with agent(instance, "slow") as ga:
            got = measure(ga, push_tool(ga, "iperf3"), server_addr, reverse)
            neigh = ga.exec(f"ip neigh show {server_addr}")[1]
    finally:
        server.terminate()
        server.wait()
    with open(instance.logdir / "rates.txt", "w") as f:
        f.write(f"configured {RATE} {'received' if reverse else 'sent'} {got:.0f}\n")
        f.write(ns.sh("tc", "-s", "qdisc", "show").stdout)
        if hasattr(ns, "vsctl"):
            for what in ("dump-flows", "dump-meters", "meter-stats"):
                f.write(ns.sh("ovs-ofctl", "-O", "OpenFlow13", what, bridge).stdout)
    if via:
        macs = [ns.sh("cat", f"/sys/class/net/{v}/address").stdout.strip() for v in via]
        assert any(m in neigh for m in macs), \
            f"guest reached {server_addr} through {neigh}, not {via} ({macs})"
    assert abs(got - RATE) <= 0.15 * RATE, \
        f"guest {'received' if reverse else 'sent'} at {got / 1e6:.2f} Mbit/s"


@pytest.fixture
def iperf3():
    if not have("iperf3", "tc", "nft"):
        pytest.skip("iperf3, tc or nft missing (iperf3, iproute2, nftables)")


def test_rate_linux_bridge_send(instance, netns, iperf3):
    netns.bridge("xenbr0", "10.77.0.1/24")
    check_rate(instance, netns, "xenbr0", "10.77.0.1", reverse=False)


def test_rate_linux_bridge_receive(instance, netns, iperf3):
    netns.bridge("xenbr0", "10.77.0.1/24")
    check_rate(instance, netns, "xenbr0", "10.77.0.1", reverse=True)


def test_rate_ovs_receive(instance, ovs_netns, iperf3):
    ovs_netns.ovs_bridge("ovsbr")
    ovs_netns.internal_port("ovsbr", "h0", "10.77.0.1/24")
    check_rate(instance, ovs_netns, "ovsbr", "10.77.0.1", reverse=True, via=("h0", "ovsbr"))


def test_rate_ovs_send(instance, ovs_netns, iperf3):
    ovs_netns.ovs_bridge("ovsbr")
    ovs_netns.internal_port("ovsbr", "h0", "10.77.0.1/24")
    check_rate(instance, ovs_netns, "ovsbr", "10.77.0.1", reverse=False, via=("h0", "ovsbr"))
