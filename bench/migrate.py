"""Driver of bench/migrate.sh: Domus live migration against QEMU's own, same
lab (tests/system/migkit.py), same run, same QEMU command line.

Per storage (shared, local), case (idle, dirty) and run:
  domus  create the guest on A (256 MiB), echo server, client stream; the
         `migrate` API call on A's daemon (what `domus migrate --live`
         sends) -> total_ms, switchover_ms, QEMU's total-time and downtime,
         disks.sync_ms (local); the stream's largest gap. Shared: the root
         disk is an LV on the SAN over NBD. Local: it is LV vgl/web-root on
         A (`phy:`); B has a VG vgl of its own without it, so B creates it
         and A mirrors the disk into it; after the run B's guest is
         destroyed and its LV removed, so that every run copies again.
  qemu   the same QEMU command line, taken from the Domus domain's process,
         started by hand in A (its tap on xenbr0) and, with -incoming tcp:,
         in B; QMP migrate-set-parameters as Domus sets them, `migrate
         tcp:B`, polled until B runs; QEMU's total-time and downtime; the
         stream's largest gap. Local: the disk is a raw file on each side
         (A: the root image, B: an empty file of the same size) and the
         disk is copied as libvirt does without shared storage: B starts
         with -S and exports its drive (nbd-server-start on B's address,
         nbd-server-add, writable); A adds an NBD node to that export,
         blockdev-mirror sync=full, waits until the job is ready, then
         `migrate` with pause-before-switchover (as Domus does): in the
         pause, block-job-cancel and wait until the job is gone,
         migrate-continue; once B's incoming migration is over,
         nbd-server-stop and `cont` on B. Its total runs from the start of
         the mirror to B running.
Downtime = the guest's pause, its source stopped to its target resumed:
Domus's report (QEMU's downtime plus the switch-over, which includes the
target's confirmation and the commit), QEMU by hand's A STOP to B RESUME
events; "qemu dt" is QEMU's own figure (until A sent the last byte, not
until B runs). Both QEMUs get the same downtime-limit: 0 (one pass) under
TCG with QEMU < 9.0, as Domus sets it (src/daemon/README.md).
Domus's total = the `migrate` API call's wall time, what `domus migrate`
makes the user wait (its report's own total_ms starts after the TLS
connection and ends before the source's copy is destroyed). Orchestration
= that total - QEMU's total-time of the same migration (QEMU's clock runs
from `migrate` to the end of the stream) - in local mode the disks'
sync_ms. It splits into "after the copy" = switchover_ms (stream end ->
the target resumed, Domus's own measure) + "teardown" (the target's
"migrated in" log line -> the call returns: the source's copy destroyed,
the reply), and "before" = the rest: connect, TLS, begin, the target
starting its QEMU ("tgt up": "begin" received -> the incoming domain
created; in local mode that runs during the disks' sync), the stream's
connection; "connect" = API call -> the target's "incoming migration" log
line. The QEMU-by-hand target is started before `migrate` and its
start-up is in no figure.
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
from conftest import KIT, LOGS, qemu_pids, qemu_tunables, wait_for, wait_ready  # noqa: E402
from migkit import ADDR_B, ADDR_SAN, GUEST_IP, Lab  # noqa: E402
from qga import GuestAgent  # noqa: E402
from test_lvdisks import copy_into_lv  # noqa: E402

ROOT = f"nbd://{ADDR_SAN}:10809/web-root"
DIRTY = ("setsid sh -c 'while :; do dd if=/dev/zero of=/tmp/dirty bs=1M count=64 "
         "2>/dev/null; done' </dev/null >/dev/null 2>&1 &")
MIGRATION_PORT = 4444
NBD_PORT = 10810       # QEMU-by-hand's disk export on B (local storage)
VG, LV, LV_SIZE = "vgl", "web-root", 40 << 20
LOCAL = f"phy:/dev/{VG}/{LV},xvda2,w"
NAN = float("nan")


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
        self.events = {}  # name -> QEMU's timestamp (s) of the last one
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        while True:
            msg = json.loads(self.f.readline())
            if "event" in msg:
                t = msg["timestamp"]
                self.events[msg["event"]] = t["seconds"] + t["microseconds"] / 1e6
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


def local_vgs(lab):
    """VG vgl on A (with the root LV, the kit's rootfs in it) and on B."""
    for h in (lab.a, lab.b):
        pv = h.inst.root / "pv-vgl.img"
        subprocess.run(["truncate", "-s", "1G", str(pv)], check=True)
        h.inst.run("vgcreate", VG, pv)
    lab.a.inst.run("lvcreate", "-L", f"{LV_SIZE >> 20}M", "-n", LV, VG)
    copy_into_lv(lab.a.inst, KIT["rootfs.img"], f"{VG}/{LV}")


def domus_run(lab, dirty, local):
    a, b = lab.a, lab.b
    disk = LOCAL if local else f"{ROOT},raw,xvda2,w"
    api(a.inst, "create", {"config_text": lab.guest_cfg("web", [disk]).read_text(),
                           "config_path": "web.cfg"})
    wait_ready(a.inst, "web", timeout=240)
    pid = qemu_pids(a.inst)[0]
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]
    # QEMU by hand runs in the environment Domus gives its QEMU (glibc's
    # malloc on huge pages).
    tun = qemu_tunables(pid)
    if tun:
        argv = [b"env", tun[0].encode()] + argv
    stream = guest_up(lab, agent_sock(a.inst), dirty)
    t_call = time.time()
    rep = api(a.inst, "migrate", {"domain": "web", "host": ADDR_B, "live": True})
    t_ret = time.time()
    time.sleep(1)
    res = stream.stop()
    blog = b.inst.root / "var/log/domus/domusd.log"
    t_in = log_time(blog, r"incoming migration of web")
    t_up = log_time(blog, r"web--incoming .* created")
    t_done = log_time(blog, r"web .* migrated in")
    api(b.inst, "destroy", {"domain": "web"})
    if local:
        b.inst.run("lvremove", "-f", f"{VG}/{LV}")
    q = rep["qemu"]
    wall = (t_ret - t_call) * 1000
    teardown = (t_ret - t_done) * 1000  # target resumed -> the call returns
    sync = rep["disks"]["sync_ms"] if local else NAN
    orch = wall - q["qemu_total_ms"] - (sync if local else 0)
    after = rep["switchover_ms"] + teardown
    return {"downtime": rep["downtime_ms"], "qemu_dt": q["qemu_downtime_ms"],
            "precopy": rep.get("precopy"), "gap": res["max_gap_ms"], "total": wall,
            "reported_total": rep["total_ms"],
            "qemu_total": q["qemu_total_ms"], "switchover": rep["switchover_ms"],
            "sync": sync, "orch": orch,
            "connect": (t_in - t_call) * 1000, "target_up": (t_up - t_in) * 1000,
            "before": orch - after, "after": after, "teardown": teardown,
            "ok": res["error"] is None and res["bad"] == 0 and res["received"] == res["sent"],
            "disks": rep.get("disks"), "stream": res}, \
        [x.decode() for x in argv]


def hand_argv(argv, workdir, incoming, disk=None):
    """ARGV for a QEMU started by hand in WORKDIR; with DISK (a raw file) as
    its disk0 and, incoming, left paused (-S) for the disk's export."""
    out = []
    for x in argv:
        if "logfile=" in x:
            x = re.sub(r"logfile=[^,]*", f"logfile={workdir}/console.log", x)
        if disk and "id=disk0," in x:
            x = f"file={disk},if=none,id=disk0,format=raw"
        out.append(x)
    if incoming:
        if not disk:
            out.remove("-S")
        out += ["-incoming", "defer"]
    return out


def start_hand_qemu(host, argv, workdir, incoming, disk=None):
    workdir.mkdir(parents=True, exist_ok=True)
    tap = re.search(r"ifname=([^,]+)", " ".join(argv)).group(1)
    p = host.popen(hand_argv(argv, workdir, incoming, disk), cwd=workdir,
                   stdout=open(workdir / "qemu.log", "w"), stderr=subprocess.STDOUT)
    qmp = Qmp(workdir / "qmp.sock")
    host.sh("ip", "link", "set", tap, "master", "xenbr0")
    host.sh("ip", "link", "set", tap, "up")
    return p, qmp


def qemu_tls_dirs(lab):
    """Per host, the host's relocation certificate under the file names of
    QEMU's tls-creds-x509 (as Domus links them), with the RFC 7919 group as
    DH parameters (certtool --get-dh-params), for QEMU by hand with TLS."""
    out = certtool_out("--get-dh-params")
    dh = out[out.index("-----BEGIN DH PARAMETERS-----"):]
    dirs = {}
    for h in ("a", "b"):
        d = lab.base / f"qemu-tls-{h}"
        d.mkdir(exist_ok=True)
        pki = lab.base / "pki" / h
        for name, src in (("ca-cert.pem", "ca-cert.pem"), ("server-cert.pem", "cert.pem"),
                          ("server-key.pem", "key.pem"), ("client-cert.pem", "cert.pem"),
                          ("client-key.pem", "key.pem")):
            if not (d / name).exists():
                (d / name).symlink_to(pki / src)
        (d / "dh-params.pem").write_text(dh)
        dirs[h] = d
    return dirs


def certtool_out(*args):
    return subprocess.run(["certtool", *args], check=True, capture_output=True,
                          text=True).stdout


def qemu_tls_on(qmp, endpoint, d, hostname=None):
    """TLS for QMP's migration (and objects named tls0) as Domus sets it up."""
    qmp.cmd("object-add", **{"qom-type": "tls-creds-x509", "id": "tls0", "endpoint": endpoint,
                             "dir": str(d), "verify-peer": True})
    qmp.cmd("migrate-set-parameters", **{"tls-creds": "tls0", "tls-hostname": hostname or ""})


def poll(predicate, timeout, what, period=0.01):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(period)


def hand_disks(wa, wb):
    """The raw disks of QEMU by hand: A's holds the root image, B's is empty."""
    wa.mkdir(parents=True, exist_ok=True)
    wb.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(KIT["rootfs.img"], wa / "root.raw")
    os.truncate(wa / "root.raw", LV_SIZE)
    (wb / "root.raw").touch()
    os.truncate(wb / "root.raw", LV_SIZE)
    return wa / "root.raw", wb / "root.raw"


def migrate_local(qa, qb, tls):
    """Mirror disk0 of A into B's export, migrate with pause-before-switchover,
    end the mirror in the pause, resume B. Returns the disk's sync time (ms).
    TLS: the export too (tls0 objects, as for the migration)."""
    crypt = {"tls-creds": "tls0"} if tls else {}
    qb.cmd("nbd-server-start", addr={"type": "inet", "data": {"host": ADDR_B,
                                                              "port": str(NBD_PORT)}}, **crypt)
    qb.cmd("nbd-server-add", device="disk0", writable=True)
    qa.cmd("migrate-set-capabilities", capabilities=[
        {"capability": "pause-before-switchover", "state": True}])
    t0 = time.monotonic()
    qa.cmd("blockdev-add", driver="nbd", **{"node-name": "mig0"}, export="disk0",
           server={"type": "inet", "host": ADDR_B, "port": str(NBD_PORT)},
           **(dict(crypt, **{"tls-hostname": "b"}) if tls else {}))
    qa.cmd("blockdev-mirror", **{"job-id": "mig0"}, device="disk0", target="mig0", sync="full")
    poll(lambda: any(j["device"] == "mig0" and j.get("ready")
                     for j in qa.cmd("query-block-jobs")), 600, "the mirror in sync")
    sync = (time.monotonic() - t0) * 1000
    qa.cmd("migrate", uri=f"tcp:{ADDR_B}:{MIGRATION_PORT}")
    poll(lambda: qa.cmd("query-migrate").get("status") in ("pre-switchover", "failed"), 600,
         "the pre-switchover pause")
    assert qa.cmd("query-migrate")["status"] == "pre-switchover", "migration failed"
    qa.cmd("block-job-cancel", device="mig0")
    poll(lambda: not qa.cmd("query-block-jobs"), 60, "the mirror's end")
    qa.cmd("migrate-continue", state="pre-switchover")
    poll(lambda: qb.cmd("query-status")["status"] != "inmigrate", 600, "B's incoming end")
    qb.cmd("nbd-server-stop")
    qb.cmd("cont")
    return sync


def qemu_run(lab, argv, dirty, n, local, tls_dirs=None, downtime_limit=300):
    """QEMU by hand; with TLS_DIRS ({host: dir}), over QEMU's own TLS.
    DOWNTIME_LIMIT: 0 when Domus sent the memory in one pass (TCG, QEMU <
    9.0), as Domus sets it; else QEMU's default. Its downtime is the
    guest's pause: A's STOP event to B's RESUME (QEMU's timestamps, one
    host clock), as Domus's counts A's stop to B's resume; QEMU's own
    figure (qemu_dt) stops when A has sent the last byte."""
    a, b = lab.a, lab.b
    wa, wb = lab.base / f"hand{n}-a", lab.base / f"hand{n}-b"
    da, db = hand_disks(wa, wb) if local else (None, None)
    pa, qa = start_hand_qemu(a, argv, wa, False, da)
    pb = None
    try:
        qa.cmd("cont")
        wait_for(lambda: (wa / "console.log").exists() and
                 b"DOMUS-GUEST-READY" in (wa / "console.log").read_bytes(), 240, "hand guest")
        stream = guest_up(lab, wa / "qga.sock", dirty)
        pb, qb = start_hand_qemu(b, argv, wb, True, db)
        qa.cmd("migrate-set-parameters", **{"downtime-limit": downtime_limit,
                                            "max-bandwidth": 1 << 40})
        if tls_dirs:
            qemu_tls_on(qb, "server", tls_dirs["b"])
            qemu_tls_on(qa, "client", tls_dirs["a"], "b")
        qb.cmd("migrate-incoming", uri=f"tcp:{ADDR_B}:{MIGRATION_PORT}")
        t0 = time.monotonic()
        if local:
            sync = migrate_local(qa, qb, bool(tls_dirs))
        else:
            sync = NAN
            qa.cmd("migrate", uri=f"tcp:{ADDR_B}:{MIGRATION_PORT}")
        poll(lambda: qb.cmd("query-status")["status"] == "running", 600, "B running")
        wall = (time.monotonic() - t0) * 1000
        info = qa.cmd("query-migrate")
        pause = (qb.events["RESUME"] - qa.events["STOP"]) * 1000
        time.sleep(1)
        res = stream.stop()
        return {"downtime": pause, "qemu_dt": info.get("downtime"), "gap": res["max_gap_ms"],
                "total": wall,
                "qemu_total": info.get("total-time"), "switchover": NAN, "sync": sync,
                "orch": NAN, "connect": NAN, "target_up": NAN, "before": NAN, "after": NAN, "teardown": NAN,
                "ok": res["error"] is None and res["bad"] == 0 and res["received"] == res["sent"],
                "stream": res}
    finally:
        for p in (pa, pb):
            if p:
                p.kill()
                p.wait()


def med(runs, key):
    """Median of KEY over RUNS; the stream's gap only over the runs whose
    stream came through whole (a stalled one's last gap is not measured)."""
    vals = [r[key] for r in runs if r[key] is not None and r[key] == r[key] and
            (key != "gap" or r["ok"])]
    return statistics.median(vals) if vals else float("nan")


def domus_cleanup(lab):
    """After a failed Domus run: no guest left on either host, no LV on B."""
    for h in (lab.a, lab.b):
        for name in ("web", "web--incoming"):
            h.inst.run("destroy", name, check=False)
    lab.b.inst.run("lvremove", "-f", f"{VG}/{LV}", check=False)


def pin_bridge_macs(lab):
    """Set each host's xenbr0 address to what it is now. A bridge whose
    address was never set takes its lowest port's: a guest's tap (random
    MAC) joining or leaving would change it, and the other hosts' ARP
    entries would send to the old one until they expire (~35 s stalls)."""
    for h in (lab.a, lab.b):
        mac = json.loads(h.sh("ip", "-j", "link", "show", "xenbr0").stdout)[0]["address"]
        h.sh("ip", "link", "set", "xenbr0", "address", mac)


def main():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    cases = os.environ.get("BENCH_CASES", "shared/idle shared/dirty local/idle local/dirty").split()
    peers = os.environ.get("BENCH_PEERS", "qemu qemu-tls").split()
    logdir = LOGS / "bench-migrate"
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    # BENCH_HUGEPAGES: 2 MiB pages added to the host's hugetlb pool for the
    # run (QEMU's heaps, domus.conf qemu_heap_hugetlb; QEMU by hand gets the
    # same GLIBC_TUNABLES), set back after it.
    pool = pathlib.Path("/proc/sys/vm/nr_hugepages")
    pool_before = int(pool.read_text())
    pool_added = int(os.environ.get("BENCH_HUGEPAGES", "0"))
    if pool_added:
        pool.write_text(f"{pool_before + pool_added}\n")
    print(f"hugetlb pool: {pool_before} + {pool_added} pages of 2 MiB", flush=True)
    lab = Lab(logdir)
    table = {}
    # BENCH_TARGET_LOAD: busy loops on B, each in a session of its own as a
    # guest's QEMU is, standing for B's other guests.
    load = [subprocess.Popen(lab.b.prefix + ["sh", "-c", "while :; do :; done"],
                             start_new_session=True)
            for _ in range(int(os.environ.get("BENCH_TARGET_LOAD", "0")))]
    if load:
        print(f"target load: {len(load)} busy loop(s) on B", flush=True)
    try:
        stream = os.environ.get("BENCH_DOMUS_STREAM")  # domus.conf migration_stream on A
        extra = os.environ.get("BENCH_DOMUS_CONF", "")  # more domus.conf lines, A and B
        for h, more in ((lab.a, extra + (f'migration_stream = "{stream}"\n' if stream else "")),
                        (lab.b, extra)):
            if more:
                conf = h.inst.root / "etc/domus/domus.conf"
                h.inst.run("daemon", "stop")
                h.start(conf.read_text() + more + "\n")
        pin_bridge_macs(lab)
        lab.san_lv("web-root", "40M", KIT["rootfs.img"])
        lab.serve("web-root", 10809)
        local_vgs(lab)
        tls_dirs = qemu_tls_dirs(lab)
        for case in cases:
            local, dirty = case.startswith("local/"), case.endswith("/dirty")
            dom, hand, failed = [], {p: [] for p in peers}, {"domus": 0, **{p: 0 for p in peers}}
            for n in range(runs):
                try:
                    r, argv = domus_run(lab, dirty, local)
                    dom.append(r)
                    print(f"{case} domus run {n + 1}: {json.dumps(r)}", flush=True)
                except Exception as e:  # reported, the next runs go on
                    failed["domus"] += 1
                    print(f"{case} domus run {n + 1} FAILED: {e}", flush=True)
                    domus_cleanup(lab)
                    continue
                for peer in peers:
                    try:
                        r = qemu_run(lab, argv, dirty, f"{case.replace('/', '-')}{n}{peer}", local,
                                     tls_dirs if peer == "qemu-tls" else None,
                                     0 if dom[-1]["precopy"] == "one pass" else 300)
                        hand[peer].append(r)
                        print(f"{case} {peer} run {n + 1}: {json.dumps(r)}", flush=True)
                    except Exception as e:
                        failed[peer] += 1
                        print(f"{case} {peer} run {n + 1} FAILED: {e}", flush=True)
            table[case] = (dom, hand, failed)
    finally:
        for p in load:
            p.kill()
            p.wait()
        lab.close()
        if pool_added:
            pool.write_text(f"{pool_before}\n")
    report(table, runs)


def ratio(x, y):
    return f"{x / y:.2f}" if y else "-"


def cell(x, w):
    return f"{'-':>{w}}" if x != x else f"{x:>{w}.0f}"


def report(table, runs):
    keys = ("downtime", "qemu_dt", "gap", "total", "qemu_total", "switchover", "sync", "orch",
            "connect", "target_up", "before", "after", "teardown")
    widths = (9, 8, 9, 8, 9, 7, 6, 7, 8, 7, 7, 7, 9)
    print(f"\nMedians of {runs} run(s), ms; 256 MiB guest, TCG. shared: guest disk on the SAN "
          f"over NBD; local: a {LV_SIZE >> 20} MiB disk copied A -> B during the migration "
          "(Domus: LV vgl/web-root; QEMU by hand: raw files, NBD export on B + blockdev-mirror, "
          "pause-before-switchover). sync = until the disk copy is in sync; local before = "
          "orch - sync - after; tgt up = the target creating the incoming domain (its QEMU "
          "started and answering), part of before in shared mode. tcp gap: over the runs whose stream came through whole "
          "(stream ok).")
    print("downtime = the guest's pause, source stopped -> target resumed (Domus: its report; "
          "QEMU by hand: A's STOP to B's RESUME event); qemu dt = QEMU's own downtime figure. "
          "total: Domus = the migrate call's wall time; orch = total - qemu tot (- sync); "
          "after = switch + teardown (target resumed -> the call returns).")
    print(f"{'case':<16}{'who':<9}{'downtime':>9}{'qemu dt':>8}{'tcp gap':>9}{'total':>8}{'qemu tot':>9}"
          f"{'switch':>7}{'sync':>6}{'orch':>7}{'connect':>8}{'tgt up':>7}{'before':>7}{'after':>7}"
          f"{'teardown':>9}  stream ok")
    for case, (dom, hand, failed) in table.items():
        for who, rs in (("domus", dom), *hand.items()):
            v = [med(rs, k) for k in keys]
            print(f"{case:<16}{who:<9}" + "".join(cell(x, w) for x, w in zip(v, widths)) +
                  f"  {sum(r['ok'] for r in rs)}/{len(rs)}" +
                  (f"  ({failed[who]} run(s) FAILED)" if failed[who] else ""))
        d = [med(dom, k) for k in ("downtime", "gap", "total")]
        for peer, rs in hand.items():
            q = [med(rs, k) for k in ("downtime", "gap", "total")]
            print(f"{'':<16}ratio  Domus/{peer}: downtime {ratio(d[0], q[0])}, tcp gap "
                  f"{ratio(d[1], q[1])}, total {ratio(d[2], q[2])}; Domus total - {peer} "
                  f"total = {d[2] - q[2]:.0f} ms")
        if case.startswith("local/"):
            print(f"{'':<16}Domus disk sync {med(dom, 'sync'):.0f} ms")


if __name__ == "__main__":
    main()
