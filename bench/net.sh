#!/usr/bin/env bash
# bench/net.sh - what Domus's network plumbing costs (issue 5).
#
# 1. Guest-to-guest TCP throughput (iperf3, pushed into the guests) and ping
#    latency between two guests on a Linux bridge and on an Open vSwitch
#    bridge (userspace datapath), first created by Domus (its ports, with
#    the MAC antispoofing rules), then the same two QEMU command lines
#    started by hand with their taps put on the same bridge with `ip`/
#    `ovs-vsctl`, in the same run. Target: Domus within 5%.
# 2. Time to create and tear down 50 ports (src/net, with antispoofing) on
#    each kind of bridge.
#
# Everything runs in a private network namespace with its own Open vSwitch.
# Each measurement alternates Domus and hand-wired RUNS times, who goes first
# alternating too (median; every round is printed).
# Usage: bench/net.sh [RUNS] (default 3; root; needs `make`, `make guest`, openvswitch-switch,
# nftables, iperf3)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export DOMUS_BUILD=${DOMUS_BUILD:-$here/build}
exec /usr/bin/python3 -u - "$here" "${1:-3}" <<'PY'
import json, os, pathlib, re, shutil, statistics, subprocess, sys, tempfile, time, uuid

repo = pathlib.Path(sys.argv[1])
runs = int(sys.argv[2])
sys.path.insert(0, str(repo / "tests/system"))
from conftest import BUILD, DOMUS, Instance, pv_cfg, qemu_pids, wait_for, wait_ready  # noqa
from netkit import OvsNetns  # noqa
from qga import GuestAgent  # noqa
from netkit import push_tool  # noqa

work = pathlib.Path(tempfile.mkdtemp(prefix="dnb-", dir="/tmp"))
(work / "logs").mkdir()
inst = Instance(work / "root", work / "logs")
(work / "root").mkdir()
(work / "ovs").mkdir()
ns = OvsNetns("dnb" + uuid.uuid4().hex[:6], work / "ovs")
manual = []
ADDR = {"g1": "10.88.0.11", "g2": "10.88.0.12"}


def measure(server, client):
    """Throughput (bit/s) and mean ping RTT (ms) from CLIENT to SERVER."""
    iperf = push_tool(server, "iperf3")
    push_tool(client, "iperf3")
    server.exec(f"{iperf} -s -D")
    time.sleep(1)
    rc, out, err = client.exec(f"{iperf} -c {ADDR['g1']} -t 10 -O 2 -J", timeout=60)
    assert rc == 0, out + err
    bps = json.loads(out)["end"]["sum_received"]["bits_per_second"]
    rc, out, _ = client.exec(f"ping -c 30 -i 0.2 -q {ADDR['g1']}", timeout=60)
    rtt = float(re.search(r"= [\d.]+/([\d.]+)/", out).group(1))
    server.exec("killall iperf3")
    return bps, rtt


def domus_run(bridge):
    for g in ("g1", "g2"):
        cfg = pv_cfg(inst, g, extra=f"domus.net0={ADDR[g]}/24",
                     more=f"vif = [ 'bridge={bridge}' ]")
        inst.run("create", cfg)
    for g in ("g1", "g2"):
        wait_ready(inst, g)
    argvs = {}
    for pid in qemu_pids(inst):
        argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        argv = [a.decode() for a in argv]
        argvs[argv[argv.index("-name") + 1].split(",")[0][6:]] = argv
    ids = {d["name"]: d["domid"] for d in json.loads(inst.run("list", "-l").stdout)}
    socks = {g: inst.root / f"run/domus/dom/{ids[g]}/qga.sock" for g in ids}
    with GuestAgent(str(socks["g1"])) as a, GuestAgent(str(socks["g2"])) as b:
        result = measure(a, b)
    for g in ("g1", "g2"):
        inst.run("destroy", g)
    return result, argvs


def hand_argv(argv, name, tap, d):
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a in ("-uuid",):
            skip = True
            continue
        if a == "-S":
            continue
        if argv[i - 1] == "-name":
            a = f"guest={name},debug-threads=on"
        a = re.sub(r"ifname=[^,]+", f"ifname={tap}", a)
        a = re.sub(r"logfile=[^,]+", f"logfile={d}/console.log", a)
        out.append(a)
    return out


def hand_run(bridge, kind, argvs):
    for i, g in enumerate(("g1", "g2")):
        d = work / f"hand-{g}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        tap = f"htap{i}"
        p = subprocess.Popen(ns.prefix + hand_argv(argvs[g], f"h{g}", tap, d), cwd=d,
                             stdout=subprocess.DEVNULL, stderr=open(d / "qemu.log", "w"))
        manual.append(p)
        wait_for(lambda: tap in ns.links(), 20, f"{tap}")
        if kind == "ovs":
            ns.vsctl("add-port", bridge, tap)
        else:
            ns.sh("ip", "link", "set", tap, "master", bridge)
        ns.sh("ip", "link", "set", tap, "up")
    for g in ("g1", "g2"):
        wait_for(lambda: b"DOMUS-GUEST-READY" in (work / f"hand-{g}/console.log").read_bytes()
                 if (work / f"hand-{g}/console.log").exists() else False, 120, "hand guest")
    with GuestAgent(str(work / "hand-g1/qga.sock")) as a, \
            GuestAgent(str(work / "hand-g2/qga.sock")) as b:
        result = measure(a, b)
    while manual:
        p = manual.pop()
        p.terminate()
        p.wait()
    if kind == "ovs":
        for tap in ("htap0", "htap1"):
            ns.vsctl("--if-exists", "del-port", tap)
    return result


def ports(bridge):
    out = ns.sh(str(BUILD / "src/net/domus-net-bench"), bridge, "50").stdout.split()
    return float(out[1]), float(out[3])


try:
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    ns.sh("ip", "link", "set", "lo", "up")
    ns.start_ovs()
    subprocess.run(ns.prefix + ["env", f"DOMUS_ROOT={inst.root}", str(DOMUS), "daemon", "start"],
                   check=True, env=ns.env)
    ns.bridge("br0")
    ns.ovs_bridge("ovsbr")
    print(f"{'bridge':8} {'who':6} {'Mbit/s':>8} {'rtt ms':>7}   (median of {runs})")
    for bridge, kind in (("br0", "linux"), ("ovsbr", "ovs")):
        dom, hand = [], []
        r, argvs = domus_run(bridge)
        dom.append(r)
        hand.append(hand_run(bridge, kind, argvs))
        for i in range(1, runs):
            # alternate who goes first: the shared machine's load drifts
            if i % 2:
                hand.append(hand_run(bridge, kind, argvs))
                dom.append(domus_run(bridge)[0])
            else:
                dom.append(domus_run(bridge)[0])
                hand.append(hand_run(bridge, kind, argvs))
        for i, (d, h) in enumerate(zip(dom, hand)):
            print(f"{kind:8} round {i + 1}: domus {d[0] / 1e6:.1f} Mbit/s {d[1]:.3f} ms, "
                  f"hand {h[0] / 1e6:.1f} Mbit/s {h[1]:.3f} ms")
        d_bps, d_rtt = (statistics.median(x[i] for x in dom) for i in (0, 1))
        h_bps, h_rtt = (statistics.median(x[i] for x in hand) for i in (0, 1))
        print(f"{kind:8} {'domus':6} {d_bps / 1e6:8.1f} {d_rtt:7.3f}")
        print(f"{kind:8} {'hand':6} {h_bps / 1e6:8.1f} {h_rtt:7.3f}")
        print(f"{kind:8} ratio  {d_bps / h_bps:8.3f} {d_rtt / h_rtt:7.3f}   "
              f"(throughput domus/hand, latency domus/hand; target within 5%)")
    for bridge, kind in (("br0", "linux"), ("ovsbr", "ovs")):
        c, t = ports(bridge)
        print(f"50 ports on {kind}: create {c:.0f} ms, tear down {t:.0f} ms")
finally:
    for p in manual:
        p.kill()
    subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"], env=inst.env,
                   capture_output=True, timeout=60)
    ns.stop()
    subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
PY
