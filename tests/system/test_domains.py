"""Domains end to end: real QEMU guests from the guest kit, driven by domus.

Each test has its own instance root and daemon; guests are small (128 MiB,
1 vCPU) and boot under TCG on hosts without vmx/svm.
"""
import json
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest

from conftest import (DOMUS, KIT, agent, console_count, console_log, domains, overlay,
                      pv_cfg, qemu_pids, qemu_tunables, wait_for, wait_ready, write_cfg)


def console_roundtrip(instance, name, command, expect, timeout=60):
    """Type COMMAND on the domain's console and wait for EXPECT in its output.
    Typed again every 3 s until it shows: a shell that starts just then (its
    line editor asks the terminal for the cursor position) eats what comes
    before it is ready."""
    p = subprocess.Popen([str(DOMUS), "console", name], env=instance.env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        out = b""
        deadline = time.monotonic() + timeout
        typed = 0.0
        os.set_blocking(p.stdout.fileno(), False)
        while time.monotonic() < deadline and expect.encode() not in out:
            if time.monotonic() - typed > 3:
                p.stdin.write(b"\n" + command.encode() + b"\n")
                p.stdin.flush()
                typed = time.monotonic()
            chunk = p.stdout.read()
            if chunk:
                out += chunk
            else:
                time.sleep(0.05)
        assert expect.encode() in out, f"console output lacks {expect!r}: {out[-500:]!r}"
        p.stdin.write(b"\x1d")  # Ctrl-] detaches
        p.stdin.flush()
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_create_list_console_shutdown(instance):
    cfg = pv_cfg(instance, "alpha")
    p = instance.run("create", cfg)
    assert "Parsing config from" in p.stderr
    assert re.search(r"Started domain alpha \(id=1\)", p.stderr)
    wait_ready(instance, "alpha")

    out = instance.run("list").stdout.splitlines()
    assert out[0] == "Name                                        ID   Mem VCPUs\tState\tTime(s)"
    assert out[1].startswith("Domain-0") and re.match(r"Domain-0 +0 +\d+ +\d+ +r-----", out[1])
    row = re.match(r"(\S+) +(\d+) +(\d+) +(\d+) +([-rbpscd]{6}) +([\d.]+)$", out[2])
    assert row and row.group(1) == "alpha" and row.group(2) == "1"
    assert row.group(3) == "128" and row.group(4) == "1"
    assert row.group(5) in ("r-----", "-b----")

    console_roundtrip(instance, "alpha", "echo console-$((6*7))", "console-42")

    instance.run("shutdown", "-w", "alpha", timeout=120)
    assert "alpha" not in domains(instance)
    assert qemu_pids(instance) == []
    assert not any((instance.root / "run/domus/dom").iterdir())


def test_guest_sees_its_disks_by_config_name(instance):
    data = instance.root / "data.img"
    subprocess.run(["truncate", "-s", "8M", str(data)], check=True)
    cfg = pv_cfg(instance, "disks", disks=[f"'{overlay(instance, 'disks')},qcow2,xvda2,w'",
                                             f"'{data},raw,xvdb,r'"])
    instance.run("create", cfg)
    wait_ready(instance, "disks")
    with agent(instance, "disks") as ga:
        rc, out, _ = ga.exec("awk '$2 == \"/\" {print $3, $4}' /proc/mounts | tail -1")
        assert rc == 0 and out.split()[0] == "ext4" and out.split()[1].startswith("ro"), out
        rc, out, _ = ga.exec("test -b /dev/xvda2 && test -b /dev/xvdb && "
                             "for d in /sys/block/vd*; do echo $(cat $d/serial) $(cat $d/ro); done")
        assert rc == 0, out
        assert sorted(out.split("\n")[:2]) == ["xvda2 0", "xvdb 1"], out
        rc, _, _ = ga.exec("echo x > /dev/xvdb")
        assert rc != 0
    instance.run("destroy", "disks")


def test_phy_block_device_disk(instance):
    """phy: on a real block device (a loop device over a file)."""
    img = instance.root / "blk.img"
    subprocess.run(["cp", "--sparse=always", str(KIT["rootfs.img"]), str(img)], check=True)
    p = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    loop = p.stdout.strip()
    try:
        instance.run("create", pv_cfg(instance, "blk", disks=[f"'phy:{loop},xvda2,r'"]))
        wait_ready(instance, "blk")
        with agent(instance, "blk") as ga:
            rc, out, _ = ga.exec("awk '$2 == \"/\" {print $3}' /proc/mounts | tail -1")
            assert rc == 0 and out.strip() == "ext4"
        instance.run("destroy", "blk")
    finally:
        subprocess.run(["losetup", "-d", loop])


def test_reboot_keeps_domid(instance):
    instance.run("create", pv_cfg(instance, "rb"))
    wait_ready(instance, "rb")
    domid = domains(instance)["rb"]["domid"]
    with agent(instance, "rb") as ga:
        ga.ping()
    instance.run("reboot", "-w", "rb", timeout=120)
    wait_ready(instance, "rb", count=2)
    assert domains(instance)["rb"]["domid"] == domid
    assert "guest rebooted; action restart" in instance.run("dmesg").stdout
    instance.run("destroy", "rb")


@pytest.mark.parametrize("on_crash,expect", [("restart", "running"), ("destroy", None),
                                             ("preserve", "crashed")])
def test_on_crash(instance, on_crash, expect):
    instance.run("create", pv_cfg(instance, "crashy", more=f"on_crash = '{on_crash}'"))
    wait_ready(instance, "crashy")
    with agent(instance, "crashy") as ga:
        ga.exec("(sleep 0.2; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &")
    if expect is None:
        wait_for(lambda: "crashy" not in domains(instance), 60, "crashed guest to go away")
        assert qemu_pids(instance) == []
    elif expect == "running":
        wait_ready(instance, "crashy", count=2)
        assert domains(instance)["crashy"]["state"] == "running"
    else:
        wait_for(lambda: domains(instance)["crashy"]["state"] == "crashed", 60,
                 "crashed state")
        row = [l for l in instance.run("list").stdout.splitlines() if l.startswith("crashy")]
        assert "----c-" in row[0]
        instance.run("destroy", "crashy")
    assert f"guest crashed; action {on_crash}" in instance.run("dmesg").stdout


def test_on_poweroff_restart(instance):
    instance.run("create", pv_cfg(instance, "phoenix"), "on_poweroff='restart'")
    wait_ready(instance, "phoenix")
    instance.run("shutdown", "-w", "phoenix", timeout=120)
    wait_ready(instance, "phoenix", count=2)
    assert domains(instance)["phoenix"]["state"] == "running"
    instance.run("destroy", "phoenix")


def test_pause_unpause_destroy(instance):
    instance.run("create", pv_cfg(instance, "sleepy"))
    wait_ready(instance, "sleepy")
    instance.run("pause", "sleepy")
    line = [l for l in instance.run("list").stdout.splitlines() if l.startswith("sleepy")][0]
    assert "--p---" in line
    t0 = domains(instance)["sleepy"]["cpu_time"]
    time.sleep(1)
    assert domains(instance)["sleepy"]["cpu_time"] - t0 < 0.3
    instance.run("unpause", "sleepy")
    assert domains(instance)["sleepy"]["state"] == "running"
    pids = qemu_pids(instance)
    assert len(pids) == 1
    instance.run("destroy", "sleepy")
    assert "sleepy" not in domains(instance)
    wait_for(lambda: qemu_pids(instance) == [], 10, "QEMU to exit")


def test_create_paused_and_console_log(instance):
    instance.run("create", "-p", pv_cfg(instance, "frozen"))
    assert domains(instance)["frozen"]["state"] == "paused"
    time.sleep(1)
    assert console_count(instance, "frozen") == 0
    instance.run("unpause", "frozen")
    wait_ready(instance, "frozen")
    assert console_log(instance, "frozen").read_bytes().count(b"Linux version") >= 1
    instance.run("destroy", "frozen")


def test_qemu_mallocs_on_huge_pages(instance):
    """QEMU runs with glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES (its
    start-up faults in big buffers); a value the host set is kept."""
    instance.env["GLIBC_TUNABLES"] = "glibc.malloc.trim_threshold=4194304"
    instance.run("create", "-p", pv_cfg(instance, "big"))
    assert qemu_tunables(*qemu_pids(instance)) == [
        "GLIBC_TUNABLES=glibc.malloc.trim_threshold=4194304:glibc.malloc.hugetlb=1"]
    instance.run("destroy", "big")
    instance.run("daemon", "stop")
    instance.env["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=0"
    instance.run("create", "-p", pv_cfg(instance, "small"))
    assert qemu_tunables(*qemu_pids(instance)) == ["GLIBC_TUNABLES=glibc.malloc.hugetlb=0"]
    instance.run("destroy", "small")
    instance.run("daemon", "stop")
    del instance.env["GLIBC_TUNABLES"]
    pool = hugetlb_free() >= 24  # a host with a hugetlb pool: see the next test
    instance.run("create", "-p", pv_cfg(instance, "plain"))
    assert qemu_tunables(*qemu_pids(instance)) == [
        f"GLIBC_TUNABLES=glibc.malloc.hugetlb={2 if pool else 1}"]
    instance.run("destroy", "plain")


@pytest.fixture
def hugetlb_pool():
    """The host's pool of 2 MiB huge pages (vm.nr_hugepages), set back as
    it was after the test."""
    knob = pathlib.Path("/proc/sys/vm/nr_hugepages")
    before = int(knob.read_text())
    yield knob
    knob.write_text(f"{before}\n")


def hugetlb_free():
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("HugePages_Free:"):
            return int(line.split()[1])
    raise AssertionError("no HugePages_Free in /proc/meminfo")


def test_qemu_heap_on_the_hugetlb_pool(instance, hugetlb_pool):
    """With room in the host's hugetlb pool, QEMU's heap comes from it
    (glibc.malloc.hugetlb=2); with too little room, or with
    qemu_heap_hugetlb = "off", from transparent huge pages as before."""
    before = int(hugetlb_pool.read_text())
    hugetlb_pool.write_text(f"{before + 40}\n")
    free = hugetlb_free()
    assert free >= 40, "the kernel gave fewer huge pages than asked"
    instance.run("create", "-p", pv_cfg(instance, "pooled"))
    pid, = qemu_pids(instance)
    assert qemu_tunables(pid) == ["GLIBC_TUNABLES=glibc.malloc.hugetlb=2"]
    in_pool = sum(int(line.split()[1]) for line in
                  pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                  if line.startswith(("Private_Hugetlb:", "Shared_Hugetlb:")))
    taken = free - hugetlb_free()
    assert taken >= 8, f"QEMU took {taken} pool pages"
    assert in_pool >= taken * 2048, f"QEMU maps {in_pool} KiB of pool pages, {taken} were taken"
    instance.run("destroy", "pooled")
    wait_for(lambda: hugetlb_free() == free, 10, "QEMU's pool pages to come back")
    # A pool without room for one more heap: transparent huge pages.
    hugetlb_pool.write_text(f"{before + 10}\n")
    instance.run("create", "-p", pv_cfg(instance, "short"))
    assert qemu_tunables(*qemu_pids(instance)) == ["GLIBC_TUNABLES=glibc.malloc.hugetlb=1"]
    instance.run("destroy", "short")
    # Turned off.
    hugetlb_pool.write_text(f"{before + 40}\n")
    instance.run("daemon", "stop")
    conf = instance.root / "etc/domus/domus.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text('qemu_heap_hugetlb = "off"\n')
    instance.run("create", "-p", pv_cfg(instance, "unpooled"))
    assert qemu_tunables(*qemu_pids(instance)) == ["GLIBC_TUNABLES=glibc.malloc.hugetlb=1"]
    instance.run("destroy", "unpooled")


def test_daemon_restart_keeps_guests(instance):
    instance.run("create", pv_cfg(instance, "survivor"))
    wait_ready(instance, "survivor")
    pids = qemu_pids(instance)
    instance.run("daemon", "stop")
    assert instance.run("daemon", "status", check=False).returncode == 3
    assert qemu_pids(instance) == pids
    # Any command starts the daemon again; it re-attaches.
    assert domains(instance)["survivor"]["state"] == "running"
    console_roundtrip(instance, "survivor", "echo back-$((40+2))", "back-42")
    # A daemon killed hard also leaves the guest alone.
    pid = int((instance.root / "run/domus/domusd.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: instance.run("daemon", "status", check=False).returncode == 3, 10,
             "daemon death")
    assert "survivor" in domains(instance)
    instance.run("shutdown", "-w", "survivor", timeout=120)
    assert qemu_pids(instance) == []


def test_two_guests_ids_rename_uptime(instance):
    instance.run("create", pv_cfg(instance, "one"))
    instance.run("create", pv_cfg(instance, "two"))
    wait_ready(instance, "one")
    wait_ready(instance, "two")
    assert instance.run("domid", "two").stdout.strip() == "2"
    assert instance.run("domname", "1").stdout.strip() == "one"
    instance.run("rename", "two", "deux")
    assert instance.run("domid", "deux").stdout.strip() == "2"
    assert instance.run("rename", "deux", "one", check=False).returncode == 1
    up = instance.run("uptime").stdout.splitlines()
    assert up[0].split() == ["Name", "ID", "Uptime"]
    assert re.match(r"one +1 +\d+:\d\d:\d\d$", [l for l in up if l.startswith("one")][0])
    listing = json.loads(instance.run("list", "-l", "deux").stdout)
    assert len(listing) == 1 and listing[0]["config"]["memory"] == 128
    instance.run("shutdown", "-a", "-w", timeout=180)
    assert domains(instance) == {}
    # IDs keep growing.
    instance.run("create", pv_cfg(instance, "three"))
    assert domains(instance)["three"]["domid"] == 3
    instance.run("destroy", "three")


def test_pv_console_hvc0(instance):
    """Seed 002 boots with extra = "console=hvc0 xencons=tty": the default
    console is then the PV one."""
    instance.run("create", pv_cfg(instance, "hvc", extra="console=hvc0 xencons=tty"))
    wait_ready(instance, "hvc")
    console_roundtrip(instance, "hvc", "echo on-$(tty | tr / -)", "on--dev-")
    instance.run("destroy", "hvc")


def test_hvm_boots_from_ide_disk(instance):
    disk = overlay(instance, "hvm", base=KIT["hvm.img"])
    cfg = write_cfg(instance, "hvm", f"""
builder = 'hvm'
name = 'hvm'
memory = 128
disk = [ '{disk},qcow2,hda,w' ]
boot = 'c'
serial = 'pty'
""")
    instance.run("create", cfg)
    wait_ready(instance, "hvm", timeout=120)
    with agent(instance, "hvm") as ga:
        rc, out, _ = ga.exec("cat /sys/block/sda/device/vendor /sys/block/sda/device/model")
        assert rc == 0 and "QEMU" in out
    instance.run("destroy", "hvm")


def test_qemu_start_failure_reports_qemu_error(instance):
    raw = instance.root / "raw.img"
    subprocess.run(["truncate", "-s", "8M", str(raw)], check=True)
    cfg = pv_cfg(instance, "broken", disks=[f"'format=qcow2, vdev=xvda2, target={raw}'"])
    p = instance.run("create", cfg, check=False)
    assert p.returncode == 1
    assert "device model failed to start" in p.stderr
    assert "qcow2" in p.stderr  # QEMU's own words
    assert domains(instance) == {}
    assert qemu_pids(instance) == []
