"""Driver of bench/migrate.sh: Domus live migration against QEMU's own, same
lab (tests/system/migkit.py), same run, same QEMU command line.

Per case (idle, dirty) and run:
  domus  create the guest on A (256 MiB, disks on the SAN), echo server,
         client stream; the `migrate` API call on A's daemon (what `domus
         migrate --live` sends) -> total_ms, switchover_ms, QEMU's
         total-time and downtime; the stream's largest gap.
  qemu   the same QEMU command line, taken from the Domus domain's process,
         started by hand in A (its tap on xenbr0) and, with -incoming tcp:
         and no -S, in B; QMP migrate-set-parameters as Domus sets them,
         `migrate tcp:B`, polled until B runs; QEMU's total-time and
         downtime; the stream's largest gap.
Orchestration = Domus total_ms - QEMU's total-time of the same migration
(QEMU's clock runs from `migrate` to the end of the stream). It splits
into "after the copy" = switchover_ms (stream end -> the target resumed,
Domus's own measure) + the target's "migrated in" log line -> the API
call's end (source destroyed, reply), and "before" = the rest (connect,
TLS, begin, migration parameters); "connect" = API call -> the target's
"incoming migration" log line. The target's QEMU starts while the source
QEMU already streams (into the relay), so its start-up is inside QEMU's
total-time for Domus, and is part of "Domus total - QEMU-by-hand total".
"""
import json
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests/system"))
from conftest import KIT, LOGS, qemu_pids, wait_for, wait_ready  # noqa: E402
from migkit import ADDR_B, ADDR_SAN, GUEST_IP, Lab  # noqa: E402
from qga import GuestAgent  # noqa: E402

ROOT = f"nbd://{ADDR_SAN}:10809/web-root"
DIRTY = ("setsid sh -c 'while :; do dd if=/dev/zero of=/tmp/dirty bs=1M count=64 "
         "2>/dev/null; done' </dev/null >/dev/null 2>&1 &")
MIGRATION_PORT = 4444


def api(inst, method, params, timeout=600):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(str(inst.root / "run/domus/domusd.sock"))
    s.sendall(json.dumps({"method": method, "params": params}).encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    reply = json.loads(data)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']['message']}")
    return reply["result"]


class Qmp:
    def __init__(self, path, timeout=30):
        wait_for(lambda: os.path.exists(path), timeout, f"QMP socket {path}")
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(str(path))
        self.f = self.s.makefile("rwb")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        while True:
            msg = json.loads(self.f.readline())
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise RuntimeError(f"{name}: {msg['error']['desc']}")


def log_time(path, pattern):
    """Wall time (epoch s) of the last line of domusd.log matching PATTERN."""
    t = None
    for line in path.read_text().splitlines():
        if re.search(pattern, line):
            t = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    return t


def guest_up(lab, sock, dirty):
    lab.start_echo_at(sock)
    if dirty:
        with GuestAgent(str(sock)) as ga:
            ga.exec(DIRTY)
    stream = lab.stream()
    time.sleep(2)
    return stream


def agent_sock(inst):
    domid = api(inst, "list", {})["domains"][0]["domid"]
    return inst.root / f"run/domus/dom/{domid}/qga.sock"


def domus_run(lab, dirty):
    a, b = lab.a, lab.b
    api(a.inst, "create", {"config_text": lab.guest_cfg("web", [f"{ROOT},raw,xvda2,w"])
                           .read_text(), "config_path": "web.cfg"})
    wait_ready(a.inst, "web", timeout=240)
    pid = qemu_pids(a.inst)[0]
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]
    stream = guest_up(lab, agent_sock(a.inst), dirty)
    t_call = time.time()
    rep = api(a.inst, "migrate", {"domain": "web", "host": ADDR_B, "live": True})
    time.sleep(1)
    res = stream.stop()
    blog = b.inst.root / "var/log/domus/domusd.log"
    t_in = log_time(blog, r"incoming migration of web")
    t_done = log_time(blog, r"web .* migrated in")
    api(b.inst, "destroy", {"domain": "web"})
    q = rep["qemu"]
    after = (t_call + rep["total_ms"] / 1000 - t_done) * 1000  # target resumed -> call returns
    return {"downtime": q["qemu_downtime_ms"], "gap": res["max_gap_ms"], "total": rep["total_ms"],
            "qemu_total": q["qemu_total_ms"], "switchover": rep["switchover_ms"],
            "orch": rep["total_ms"] - q["qemu_total_ms"],
            "connect": (t_in - t_call) * 1000,
            "before": rep["total_ms"] - q["qemu_total_ms"] - rep["switchover_ms"] - after,
            "after": rep["switchover_ms"] + after,
            "ok": res["error"] is None and res["bad"] == 0 and res["received"] == res["sent"],
            "stream": res}, \
        [x.decode() for x in argv]


def hand_argv(argv, workdir, incoming):
    out = []
    for x in argv:
        if "logfile=" in x:
            x = re.sub(r"logfile=[^,]*", f"logfile={workdir}/console.log", x)
        out.append(x)
    if incoming:
        out.remove("-S")
        out += ["-incoming", f"tcp:{ADDR_B}:{MIGRATION_PORT}"]
    return out


def start_hand_qemu(host, argv, workdir, incoming):
    workdir.mkdir(parents=True, exist_ok=True)
    tap = re.search(r"ifname=([^,]+)", " ".join(argv)).group(1)
    p = host.popen(hand_argv(argv, workdir, incoming), cwd=workdir,
                   stdout=open(workdir / "qemu.log", "w"), stderr=subprocess.STDOUT)
    qmp = Qmp(workdir / "qmp.sock")
    host.sh("ip", "link", "set", tap, "master", "xenbr0")
    host.sh("ip", "link", "set", tap, "up")
    return p, qmp


def qemu_run(lab, argv, dirty, n):
    a, b = lab.a, lab.b
    wa, wb = lab.base / f"hand{n}-a", lab.base / f"hand{n}-b"
    pa, qa = start_hand_qemu(a, argv, wa, False)
    pb = None
    try:
        qa.cmd("cont")
        wait_for(lambda: (wa / "console.log").exists() and
                 b"DOMUS-GUEST-READY" in (wa / "console.log").read_bytes(), 240, "hand guest")
        stream = guest_up(lab, wa / "qga.sock", dirty)
        pb, qb = start_hand_qemu(b, argv, wb, True)
        qa.cmd("migrate-set-parameters", **{"downtime-limit": 300, "max-bandwidth": 1 << 40})
        t0 = time.monotonic()
        qa.cmd("migrate", uri=f"tcp:{ADDR_B}:{MIGRATION_PORT}")
        wait_for(lambda: qb.cmd("query-status")["status"] == "running", 600, "B running")
        wall = (time.monotonic() - t0) * 1000
        info = qa.cmd("query-migrate")
        time.sleep(1)
        res = stream.stop()
        return {"downtime": info.get("downtime"), "gap": res["max_gap_ms"], "total": wall,
                "qemu_total": info.get("total-time"), "switchover": float("nan"),
                "orch": float("nan"), "connect": float("nan"), "before": float("nan"),
                "after": float("nan"),
                "ok": res["error"] is None and res["bad"] == 0 and res["received"] == res["sent"],
                "stream": res}
    finally:
        for p in (pa, pb):
            if p:
                p.kill()
                p.wait()


def med(runs, key):
    vals = [r[key] for r in runs if r[key] is not None and r[key] == r[key]]
    return statistics.median(vals) if vals else float("nan")


def main():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    logdir = LOGS / "bench-migrate"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    lab = Lab(logdir)
    table = {}
    try:
        lab.san_lv("web-root", "40M", KIT["rootfs.img"])
        lab.serve("web-root", 10809)
        for case in ("idle", "dirty"):
            dom, hand = [], []
            for n in range(runs):
                r, argv = domus_run(lab, case == "dirty")
                dom.append(r)
                print(f"{case} domus run {n + 1}: {json.dumps(r)}", flush=True)
                r = qemu_run(lab, argv, case == "dirty", f"{case}{n}")
                hand.append(r)
                print(f"{case} qemu  run {n + 1}: {json.dumps(r)}", flush=True)
            table[case] = (dom, hand)
    finally:
        lab.close()
    report(table, runs)


def report(table, runs):
    keys = ("downtime", "gap", "total", "qemu_total", "switchover", "orch", "connect", "before",
            "after")
    print(f"\nMedians of {runs} run(s), ms; shared storage (guest disk on the SAN over NBD), "
          "256 MiB guest, TCG")
    print(f"{'case':<16}{'who':<7}{'downtime':>9}{'tcp gap':>9}{'total':>8}{'qemu tot':>9}"
          f"{'switch':>7}{'orch':>7}{'connect':>8}{'before':>7}{'after':>7}  stream ok")
    for case, (dom, hand) in table.items():
        for who, rs in (("domus", dom), ("qemu", hand)):
            v = [med(rs, k) for k in keys]
            print(f"{'shared/' + case:<16}{who:<7}" + "".join(
                f"{x:>{w}.0f}" for x, w in zip(v, (9, 9, 8, 9, 7, 7, 8, 7, 7))) +
                f"  {all(r['ok'] for r in rs)}")
        d, q = [med(dom, k) for k in ("downtime", "gap", "total")], \
            [med(hand, k) for k in ("downtime", "gap", "total")]
        print(f"{'':<16}ratio  Domus/QEMU: downtime {d[0] / q[0]:.2f}, tcp gap {d[1] / q[1]:.2f}, "
              f"total {d[2] / q[2]:.2f}; Domus total - QEMU-by-hand total = {d[2] - q[2]:.0f} ms")
    print(f"{'local/idle':<16}{'-':<7} not measured: local-storage migration is not in this "
          "tree yet")
    print(f"{'local/dirty':<16}{'-':<7} not measured: local-storage migration is not in this "
          "tree yet")


if __name__ == "__main__":
    main()
