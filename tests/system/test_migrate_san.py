"""Live migration with the disks on a storage host ("SAN") over NBD, while a
client in a third namespace streams numbered data through one TCP
connection to the guest (lab: migkit.py). Also: disk targets naming NBD
exports are checked before anything is created."""
import re
import shutil
import subprocess
import time

import pytest

from conftest import (KIT, LOGS, agent, console_log, domains, qemu_pids, require_guest_kit,
                      wait_for, wait_ready)
from migkit import ADDR_A, ADDR_B, ADDR_SAN, RELOC_PORT, Lab

MAC = "00:16:3e:5a:00:01"
ROOT = f"nbd://{ADDR_SAN}:10809/web-root"
DATA = f"nbd://{ADDR_SAN}:10810/web-data"


@pytest.fixture
def lab(request):
    require_guest_kit()
    for tool in ("qemu-img", "certtool", "ss", "bridge"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    logdir = LOGS / request.node.name[:80]
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    lab = Lab(logdir)
    lab.san_lv("web-root", "40M", KIT["rootfs.img"])
    lab.san_lv("web-data", "16M")
    lab.serve("web-root", 10809)
    lab.serve("web-data", 10810)
    yield lab
    lab.close()


def disk_sums(ga):
    """SHA-256 of the guest's two disks, read from the devices (caches dropped)."""
    rc, out, err = ga.exec("sync; echo 3 > /proc/sys/vm/drop_caches; "
                           "sha256sum /dev/xvda2 /dev/xvdb", timeout=120)
    assert rc == 0, err
    return [line.split()[0] for line in out.splitlines()]


def test_san_migration_keeps_the_tcp_stream(lab):
    a, b = lab.a, lab.b
    a.inst.run("create", lab.guest_cfg("web", [f"{ROOT},raw,xvda2,w", f"{DATA},raw,xvdb,w"]))
    wait_ready(a.inst, "web", timeout=180)
    with agent(a.inst, "web") as ga:
        rc, _, err = ga.exec("dd if=/dev/urandom of=/dev/xvdb bs=1M count=8 conv=fsync "
                             "2>/dev/null", timeout=120)
        assert rc == 0, err
        before = disk_sums(ga)
    lab.start_echo(a.inst, "web")
    stream = lab.stream()
    wait_for(lambda: lab.fdb_port(MAC) == "p-a", 10, "the switch to learn the guest on p-a")
    time.sleep(2)
    p = a.inst.run("migrate", "--live", "web", ADDR_B, timeout=600)
    print(p.stderr.strip())
    time.sleep(2)
    res = stream.stop()
    print(f"TCP stream: {res['sent']} records sent, {res['received']} echoed, "
          f"largest gap {res['max_gap_ms']:.1f} ms (externally measured downtime)")
    assert res["error"] is None, res
    assert res["sent"] > 1000 and res["received"] == res["sent"], res
    assert res["bad"] == 0, res
    assert "web" not in domains(a.inst) and qemu_pids(a.inst) == []
    assert domains(b.inst)["web"]["state"] == "running"
    # QEMU announced the guest from B: the switch forwards to B's uplink.
    assert lab.fdb_port(MAC) == "p-b"
    with agent(b.inst, "web") as ga:
        assert disk_sums(ga) == before


def qemu_older_than_9():
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                         text=True).stdout
    return int(re.search(r"version (\d+)\.", out).group(1)) < 9


def test_san_round_trips_keep_the_guest_whole(lab):
    """Back and forth three times with the stream running each time. Under
    TCG, QEMU < 9.0 loses guest writes made after a dirty-bitmap sync: over
    several passes the guest came back with stale pages (kernel BUG, virtio
    ring double-free, a stalled stream) in most migrations, so Domus sends
    the memory in one pass there (src/daemon/README.md)."""
    a, b = lab.a, lab.b
    a.inst.run("daemon", "stop")
    a.start(f'relocation_tls_dir = "{lab.base}/pki/a"\n'
            f'relocation_listen = "{ADDR_A}:{RELOC_PORT}"\n'
            f'relocation_hosts_allow = [ "{ADDR_B}" ]\n')
    a.inst.run("create", lab.guest_cfg("web", [f"{ROOT},raw,xvda2,w"]))
    wait_ready(a.inst, "web", timeout=180)
    tcg = "accelerator tcg" in (a.inst.root / "var/log/domus/domusd.log").read_text()
    uuid = domains(a.inst)["web"]["uuid"]
    hosts = [(a, ADDR_A), (b, ADDR_B)]
    for n in range(3):
        src, (dst, addr) = hosts[n % 2][0], hosts[(n + 1) % 2]
        lab.start_echo(src.inst, "web")
        stream = lab.stream()
        time.sleep(1)
        p = src.inst.run("migrate", "--live", "web", addr, timeout=600)
        print(p.stderr.strip())
        assert ("one pass" if tcg and qemu_older_than_9() else "iterative") in p.stderr
        time.sleep(1.5)
        res = stream.stop()
        assert res["error"] is None and res["bad"] == 0 and res["received"] == res["sent"], res
        assert domains(dst.inst)["web"]["state"] == "running"
        assert domains(dst.inst)["web"]["uuid"] == uuid  # the same domain, as in Xen
    for h in (a, b):  # what the guest printed after each arrival
        log = console_log(h.inst, "web--incoming").read_text(errors="replace")
        assert "BUG" not in log and "not a head" not in log and "panic" not in log, log[-2000:]


def test_san_unreachable_or_wrong_export_leaves_nothing(lab):
    a = lab.a
    for target, msg in ((f"nbd://{ADDR_SAN}:10999/web-root",
                         f"disk 'xvda2': NBD server {ADDR_SAN}:10999: Connection refused"),
                        (f"nbd://{ADDR_SAN}:10809/nope",
                         f"disk 'xvda2': NBD server {ADDR_SAN}:10809: no export named 'nope'")):
        p = a.inst.run("create", lab.guest_cfg("lost", [f"{target},raw,xvda2,w"]), check=False)
        assert p.returncode != 0 and msg in p.stderr, p.stderr
        assert domains(a.inst) == {} and qemu_pids(a.inst) == []
        assert "vif" not in a.sh("ip", "-o", "link").stdout
    p = a.inst.run("create", lab.guest_cfg("lost", [f"nbd://{ADDR_SAN}:70000/x,raw,xvda2,w"]),
                   check=False)
    assert p.returncode != 0 and "bad port '70000'" in p.stderr, p.stderr


def test_san_hiccup_is_survived(lab):
    """The storage host's server restarts: QEMU reconnects, guest I/O carries on."""
    a = lab.a
    a.inst.run("create", lab.guest_cfg("web", [f"{ROOT},raw,xvda2,w", f"{DATA},raw,xvdb,w"]))
    wait_ready(a.inst, "web", timeout=180)
    srv = lab.servers[1]
    srv.terminate()
    srv.wait(timeout=20)
    lab.servers.remove(srv)
    with agent(a.inst, "web") as ga:
        ga.exec("(dd if=/dev/urandom of=/dev/xvdb bs=1M count=4 conv=fsync 2>/dev/null; "
                "echo $? > /tmp/ddrc) >/dev/null 2>&1 &")
        time.sleep(3)
        lab.serve("web-data", 10810)
        rc = wait_for(lambda: ga.exec("cat /tmp/ddrc")[1].strip(), 90, "the write to finish")
        assert rc == "0"
        assert len(disk_sums(ga)) == 2
