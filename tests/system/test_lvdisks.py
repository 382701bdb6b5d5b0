"""Domains whose disks are Domus LVs, served to QEMU over NBD by disk servers.

A VG on a sparse file under the instance root; the kit's root filesystem
copied into an LV through `domus nbd-serve`; guests booting from it with
the seeds' disk lines (`phy:/dev/VG/LV`, `/dev/mapper/VG-LV`). What the
guests write is checked on the LVs afterwards, read through nbd-serve.
"""
import hashlib
import os
import signal
import subprocess
import time

import pytest

from conftest import KIT, agent, domains, pv_cfg, require_guest_kit, wait_for, wait_ready
from test_nbd import Server, need, run


def nbd_uri(sock):
    return f"nbd+unix:///?socket={sock}"


def copy_into_lv(instance, image, lv):
    sock = instance.root / "fill.sock"
    srv = Server(instance, lv, "--unix", sock)
    srv.wait_unix(sock)
    try:
        run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", image, nbd_uri(sock))
    finally:
        srv.stop()


def lv_sha256(instance, lv, length):
    """SHA-256 of the first LENGTH bytes of LV, read through nbd-serve."""
    sock = instance.root / "read.sock"
    srv = Server(instance, lv, "--unix", sock, extra=["--readonly"])
    srv.wait_unix(sock)
    out = instance.root / "read.raw"
    try:
        run("nbdcopy", nbd_uri(sock), out)
    finally:
        srv.stop()
    with open(out, "rb") as f:
        return hashlib.sha256(f.read(length)).hexdigest()


def disk_servers(instance):
    """PIDs of nbd-serve processes of this instance."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"nbd-serve" in cmd and str(instance.root).encode() in cmd:
            pids.append(int(p))
    return pids


@pytest.fixture
def vg(instance):
    """VG vg0 on a sparse file: dom1-disk (the kit's rootfs), dom1-swap, data."""
    require_guest_kit()
    need("qemu-img"), need("nbdcopy")
    pv = instance.root / "pv0.img"
    subprocess.run(["truncate", "-s", "2G", str(pv)], check=True)
    instance.run("vgcreate", "vg0", pv)
    instance.run("lvcreate", "-L", "40M", "-n", "dom1-disk", "vg0")
    instance.run("lvcreate", "-L", "8M", "-n", "dom1-swap", "vg0")
    instance.run("lvcreate", "-L", "16M", "-n", "data", "vg0")
    copy_into_lv(instance, KIT["rootfs.img"], "vg0/dom1-disk")
    return "vg0"


def guest_write(ga, dev, mib):
    """Write MIB MiB of random data to DEV with O_DIRECT, sync; its SHA-256."""
    rc, out, err = ga.exec(f"dd if=/dev/urandom of=/root/pattern bs=1M count={mib} 2>/dev/null"
                           f" && dd if=/root/pattern of={dev} bs=64k oflag=direct 2>&1"
                           f" && sync && sha256sum /root/pattern", timeout=120)
    assert rc == 0, out + err
    return out.split()[-2]


def test_seed_config_boots_and_writes_survive_reboot(instance, vg):
    # Seed 002's disk line, with `rw` added to root's `ro` so the test can write.
    cfg = pv_cfg(instance, "dom1", extra="rw", disks=[
        "'phy:/dev/vg0/dom1-swap,xvda1,w'", "'phy:/dev/vg0/dom1-disk,xvda2,w'"])
    instance.run("create", cfg)
    wait_ready(instance, "dom1")
    assert len(disk_servers(instance)) == 2
    with agent(instance, "dom1") as ga:
        rc, out, _ = ga.exec("test -b /dev/xvda1 && awk '$2 == \"/\" {print $1}' /proc/mounts"
                             " | tail -1 && echo survived-$((6*7)) > /root/marker && sync")
        assert rc == 0 and "xvda2" in out, out
    instance.run("reboot", "-w", "dom1", timeout=120)
    wait_ready(instance, "dom1", count=2)
    with agent(instance, "dom1") as ga:
        rc, out, _ = ga.exec("cat /root/marker")
        assert rc == 0 and out.strip() == "survived-42", out
    # Held by the domain: a second read-write attach, lvremove and lvreduce
    # are refused and name it.
    held = "logical volume vg0/dom1-disk is in use by domain dom1 (id 1)"
    p = instance.run("create", pv_cfg(instance, "dom2", disks=[
        "'phy:/dev/vg0/dom1-disk,xvda2,w'"]), check=False)
    assert p.returncode != 0 and held in p.stderr, p.stderr
    assert "dom2" not in domains(instance) and len(disk_servers(instance)) == 2
    for cmd in (["lvremove", "-f", "vg0/dom1-disk"], ["lvreduce", "-f", "-L", "32M",
                                                      "vg0/dom1-disk"]):
        p = instance.run(*cmd, check=False)
        assert p.returncode != 0 and held in p.stderr, (cmd, p.stderr)
    # Renamed, it is named by its new name.
    instance.run("rename", "dom1", "web")
    p = instance.run("lvremove", "-f", "vg0/dom1-disk", check=False)
    assert p.returncode != 0 and "in use by domain web (id 1)" in p.stderr, p.stderr
    instance.run("destroy", "web")
    wait_for(lambda: not disk_servers(instance), 15, "disk servers to stop")
    instance.run("lvremove", "-f", "vg0/dom1-swap")


def test_mapper_form_and_readonly_disk(instance, vg):
    # Seed 000's form: /dev/mapper/VG-LV with the LV's dash doubled, on hda1.
    instance.run("lvrename", "vg0", "dom1-disk", "secours-root")
    cfg = pv_cfg(instance, "secours", disks=[
        "'phy:/dev/mapper/vg0-secours--root,hda1,w'", "'phy:/dev/vg0/data,xvdb,r'"])
    cfg.write_text(cfg.read_text().replace('root = "/dev/xvda2 ro"', 'root = "/dev/hda1 ro"'))
    before = lv_sha256(instance, "vg0/data", 16 << 20)
    instance.run("create", cfg)
    wait_ready(instance, "secours")
    domid = domains(instance)["secours"]["domid"]
    sock = instance.root / f"run/domus/dom/{domid}/disk-xvdb.sock"
    assert "is_read_only: true" in run("nbdinfo", nbd_uri(sock))
    with agent(instance, "secours") as ga:
        rc, _, _ = ga.exec("dd if=/dev/zero of=/dev/xvdb bs=4k count=1 oflag=direct")
        assert rc != 0
    # A read-only disk may be shared read-only, not attached read-write.
    p = instance.run("create", pv_cfg(instance, "other", disks=[
        "'phy:/dev/vg0/data,xvda2,w'"]), check=False)
    assert p.returncode != 0 and "vg0/data is in use by domain secours" in p.stderr
    instance.run("destroy", "secours")
    assert lv_sha256(instance, "vg0/data", 16 << 20) == before


def test_concurrent_guests_and_flush_before_destroy(instance, vg):
    instance.run("lvcreate", "-L", "40M", "-n", "dom2-disk", "vg0")
    instance.run("lvcreate", "-L", "16M", "-n", "data2", "vg0")
    copy_into_lv(instance, KIT["rootfs.img"], "vg0/dom2-disk")
    for name, root, data in (("g1", "dom1-disk", "data"), ("g2", "dom2-disk", "data2")):
        instance.run("create", pv_cfg(instance, name, extra="rw", disks=[
            f"'phy:/dev/vg0/{root},xvda2,w'", f"'phy:/dev/vg0/{data},xvdb,w'"]))
    wait_ready(instance, "g1")
    wait_ready(instance, "g2")
    results = {}

    def writer(name):
        with agent(instance, name) as ga:
            results[name] = guest_write(ga, "/dev/xvdb", 16)

    import threading
    threads = [threading.Thread(target=writer, args=(n,)) for n in ("g1", "g2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results["g1"] != results["g2"]
    # Hard stop right after the guests' sync: the data is on the LVs.
    instance.run("destroy", "g1")
    instance.run("destroy", "g2")
    assert lv_sha256(instance, "vg0/data", 16 << 20) == results["g1"]
    assert lv_sha256(instance, "vg0/data2", 16 << 20) == results["g2"]


def test_guest_io_survives_daemon_and_server_restarts(instance, vg):
    instance.run("create", pv_cfg(instance, "busy", extra="rw", disks=[
        "'phy:/dev/vg0/dom1-disk,xvda2,w'", "'phy:/dev/vg0/data,xvdb,w'"]))
    wait_ready(instance, "busy")
    with agent(instance, "busy") as ga:
        rc, out, err = ga.exec(
            "(while [ ! -e /root/stop ]; do dd if=/dev/urandom of=/dev/xvdb bs=64k count=64 "
            "oflag=direct 2>/dev/null || echo FAIL >> /root/io.err; done; touch /root/done)"
            " >/dev/null 2>&1 </dev/null &")
        assert rc == 0, out + err
    time.sleep(2)
    # A clean stop and a kill -9 of the daemon: the disk servers carry on.
    servers = disk_servers(instance)
    instance.run("daemon", "stop")
    time.sleep(1)
    assert disk_servers(instance) == servers
    assert domains(instance)["busy"]["state"] in ("running", "blocked")
    pid = int((instance.root / "run/domus/domusd.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: instance.run("daemon", "status", check=False).returncode == 3, 10,
             "daemon death")
    # A disk server killed under load: the next daemon restarts it and QEMU
    # reconnects; the guest's I/O waits instead of failing.
    domid = domains(instance)["busy"]["domid"]
    old = [p for p in servers if b"disk-xvdb.sock" in open(f"/proc/{p}/cmdline", "rb").read()]
    pid = int((instance.root / "run/domus/domusd.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: instance.run("daemon", "status", check=False).returncode == 3, 10,
             "daemon death")
    os.kill(old[0], signal.SIGKILL)
    time.sleep(1)
    assert "busy" in domains(instance)   # a new daemon, which revives the server
    wait_for(lambda: len(disk_servers(instance)) == 2, 15, "the disk server to be restarted")
    assert (instance.root / f"run/domus/dom/{domid}/disk-xvdb.sock").exists()
    # A disk server dying while the daemon runs is restarted by its monitor.
    old = [p for p in disk_servers(instance)
           if b"disk-xvdb.sock" in open(f"/proc/{p}/cmdline", "rb").read()]
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: len(disk_servers(instance)) == 2 and old[0] not in disk_servers(instance),
             15, "the monitor to restart the disk server")
    # The daemon records the new server in state.json just after starting it.
    state_json = instance.root / f"run/domus/dom/{domid}/state.json"

    def recorded():
        state = state_json.read_text()
        return [p for p in disk_servers(instance) if f'"pid": {p}' in state]
    wait_for(lambda: len(recorded()) == 2, 5, "the restarted server recorded in state.json")
    time.sleep(3)
    with agent(instance, "busy") as ga:
        ga.exec("touch /root/stop")
        wait_for(lambda: ga.exec("test -e /root/done")[0] == 0, 60, "the writer to stop")
        rc, out, _ = ga.exec("cat /root/io.err 2>/dev/null; dmesg | grep -i 'i/o error'")
        assert out.strip() == "", out
        written = guest_write(ga, "/dev/xvdb", 16)
    instance.run("destroy", "busy")
    assert lv_sha256(instance, "vg0/data", 16 << 20) == written
    assert not disk_servers(instance)


def test_pygrub_from_lv(instance, vg):
    """Seed 001's bootloader = pygrub with the guest's disk on an LV: the
    kernel is read from the LV's extents in place."""
    from test_seeds import grub_disk
    instance.run("lvcreate", "-L", "64M", "-n", "origami-disk", "vg0")
    copy_into_lv(instance, grub_disk(instance), "vg0/origami-disk")
    cfg = instance.root / "origami.cfg"
    cfg.write_text('name = "origami"\nbootloader = "/usr/lib/xen-default/bin/pygrub"\n'
                   'memory = 128\nroot = "/dev/xvda2 ro"\n'
                   "disk = [ 'phy:/dev/vg0/origami-disk,xvda2,w' ]\n")
    instance.run("create", cfg)
    wait_ready(instance, "origami")
    with agent(instance, "origami") as ga:
        rc, out, _ = ga.exec("hostname")
        assert rc == 0 and out.strip() == "from-grub", out
    assert "bootloader found kernel 'Debian GNU/Linux, kit' in '/dev/vg0/origami-disk'" in \
        instance.run("dmesg").stdout
    instance.run("destroy", "origami")
    # A snapshot's LV holds its exception store, not a filesystem: refused.
    instance.run("lvcreate", "-s", "-L", "8M", "-n", "origami-snap", "vg0/origami-disk")
    cfg.write_text(cfg.read_text().replace("origami-disk", "origami-snap"))
    p = instance.run("create", cfg, check=False)
    assert p.returncode != 0
    assert "cannot read logical volume vg0/origami-snap: it is not one contiguous run" \
        in p.stderr, p.stderr
    assert "origami" not in domains(instance) and not disk_servers(instance)
