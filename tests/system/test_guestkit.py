"""System tests of the guest kit (build/guest): boot it with plain QEMU under
TCG the way Domus does, and check disks, NICs, the agent, the consoles and
the power paths (ACPI button, agent shutdown/reboot, kernel panic).

Each test boots one small guest (256 MiB) and keeps its serial log and QMP
traffic in build/test-logs/<test>/.
"""
import base64
import hashlib
import json
import os
import pathlib
import re
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import GUEST, LOGS
from qga import AgentError, GuestAgent

QEMU = shutil.which("qemu-system-x86_64")
READY = b"DOMUS-GUEST-READY"

pytestmark = pytest.mark.skipif(
    QEMU is None or not (GUEST / "vmlinuz").exists(),
    reason="needs qemu-system-x86_64 and the guest kit (make guest)")


def kernel_release():
    return next((GUEST / "work/kernel/lib/modules").iterdir()).name


class Qmp:
    """Minimal QMP client that records every message in a log file."""

    def __init__(self, path, log, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(str(path))
                break
            except ConnectionRefusedError:
                # The socket file exists a moment before QEMU listens on it.
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.file = self.sock.makefile("rb")
        self.log = log
        self.events = []
        self._read()
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise EOFError("QMP connection closed")
        self.log.write(b"<- " + line)
        msg = json.loads(line)
        if "event" in msg:
            self.events.append(msg)
        return msg

    def cmd(self, name, **args):
        req = {"execute": name, **({"arguments": args} if args else {})}
        data = json.dumps(req).encode() + b"\n"
        self.log.write(b"-> " + data)
        self.sock.sendall(data)
        while True:
            msg = self._read()
            if "return" in msg or "error" in msg:
                return msg

    def wait_event(self, names, timeout):
        """Wait for one of the events NAMES; returns it (or raises)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev["event"] in names:
                    return ev
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                self._read()
            except (socket.timeout, EOFError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {names} event; got {self.events}")
                if not self.events or self.events[-1]["event"] not in names:
                    time.sleep(0.05)


class Guest:
    """One QEMU process running the guest kit."""

    def __init__(self, logdir, machine="q35", kernel=True, root=True,
                 append="", extra=(), panic_device="pvpanic-pci"):
        self.logdir = logdir
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="gk-", dir="/tmp"))
        self.serial_log = logdir / "serial.log"
        self.qga_path = self.dir / "qga.sock"
        cmd = [QEMU, "-machine", machine, "-accel", "tcg", "-m", "256",
               "-nodefaults", "-display", "none", "-no-reboot",
               "-qmp", f"unix:{self.dir}/qmp.sock,server=on,wait=off",
               "-chardev", f"socket,id=ser0,path={self.dir}/serial.sock,"
                           f"server=on,wait=off,logfile={self.serial_log}",
               "-serial", "chardev:ser0"]
        if kernel:
            cmdline = "console=ttyS0 " + ("root=/dev/xvda2 ro " if root else "")
            cmd += ["-kernel", str(GUEST / "vmlinuz"),
                    "-initrd", str(GUEST / "initrd.img"),
                    "-append", cmdline + append]
        if root:
            cmd += ["-drive", f"file={GUEST / 'rootfs.img'},if=none,id=d0,"
                              "format=raw,snapshot=on",
                    "-device", "virtio-blk-pci,drive=d0,serial=xvda2"]
        if machine == "q35":
            cmd += ["-device", "virtio-serial-pci",
                    "-chardev", f"socket,id=qga0,path={self.qga_path},"
                                "server=on,wait=off",
                    "-device", "virtserialport,chardev=qga0,"
                               "name=org.qemu.guest_agent.0",
                    "-device", panic_device]
        cmd += list(extra)
        (logdir / "qemu-cmdline.txt").write_text(" ".join(cmd) + "\n")
        self.qemu_err = open(logdir / "qemu-stderr.log", "wb")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.qemu_err, stderr=self.qemu_err)
        self.qmp = Qmp(self._wait_socket(self.dir / "qmp.sock"),
                       open(logdir / "qmp.log", "ab", buffering=0))
        self.serial = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.serial.connect(str(self.dir / "serial.sock"))
        # QEMU's logfile= keeps the console; an undrained socket would stall it.
        threading.Thread(target=self._drain_serial, daemon=True).start()
        self.agent = None

    def _drain_serial(self):
        try:
            while self.serial.recv(65536):
                pass
        except OSError:
            pass

    def _wait_socket(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"qemu did not start: {self.err_text()}")
            time.sleep(0.01)
        return path

    def err_text(self):
        return (self.logdir / "qemu-stderr.log").read_text(errors="replace")

    def log_text(self):
        try:
            return self.serial_log.read_bytes()
        except FileNotFoundError:
            return b""

    def wait_log(self, pattern, timeout=60):
        """Wait for PATTERN (bytes regex) in the serial log; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log_text())
            if m:
                return m
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} not on the console (qemu rc {self.proc.poll()}):\n"
                    + self.log_text().decode(errors="replace")[-3000:])
            time.sleep(0.02)

    def wait_ready(self, timeout=60):
        self.wait_log(READY, timeout)
        elapsed = time.monotonic() - self.start
        with open(LOGS / "guest-boot-times.txt", "a") as f:
            f.write(f"{self.logdir.name}: {elapsed:.2f} s to READY\n")
        print(f"boot to {READY.decode()}: {elapsed:.2f} s")
        return elapsed

    def connect_agent(self):
        self.agent = GuestAgent(self.qga_path)
        return self.agent

    def type(self, text):
        self.serial.sendall(text.encode())

    def wait_exit(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("qemu did not exit:\n"
                                 + self.log_text().decode(errors="replace")[-2000:])

    def close(self):
        if self.agent:
            self.agent.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.serial.shutdown(socket.SHUT_RDWR)
        self.serial.close()
        self.qemu_err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def boot(request):
    logdir = LOGS / request.node.name.replace("/", "_")[:80]
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    guests = []

    def start(**kw):
        g = Guest(logdir, **kw)
        guests.append(g)
        return g
    yield start
    for g in guests:
        g.close()


def test_boot_disks_agent_and_static_nic(boot):
    g = boot(append="domus.net0=10.0.2.15/24,10.0.2.2 domus.hostname=kitguest",
             extra=["-netdev", "user,id=n0",
                    "-device", "virtio-net-pci,netdev=n0,romfile="])
    elapsed = g.wait_ready()
    assert elapsed < 30
    a = g.connect_agent()
    a.ping()
    info = a.info()
    names = {c["name"] for c in info["supported_commands"]}
    assert {"guest-exec", "guest-exec-status", "guest-shutdown"} <= names

    rc, out, _ = a.exec("test -b /dev/xvda2 && awk '$2 == \"/\"' /proc/mounts")
    assert rc == 0
    dev, mnt, fstype, opts = out.split()[:4]
    assert (dev, mnt, fstype) == ("/dev/xvda2", "/", "ext4")
    assert opts.split(",")[0] == "ro"
    rc, out, _ = a.exec("stat -c %t:%T /dev/xvda2 /dev/vda")
    assert rc == 0 and len(set(out.split())) == 1, out
    rc, out, _ = a.exec("touch /tmp/x /run/x && uname -r && hostname")
    assert rc == 0 and out.split() == [kernel_release(), "kitguest"]

    rc, out, err = a.exec("echo to-out; echo to-err >&2; exit 3")
    assert (rc, out, err) == (3, "to-out\n", "to-err\n")
    rc, out, _ = a.exec("tr a-z A-Z", input="hello agent\n")
    assert (rc, out) == (0, "HELLO AGENT\n")
    rc, out, _ = a.exec("kill -9 $$")
    assert rc == -9
    # Children start with a clean signal mask (the agent blocks SIGCHLD).
    rc, out, _ = a.exec("grep -E '^Sig(Blk|Ign)' /proc/self/status")
    assert "SigBlk:\t0000000000000000" in out, out
    blob = bytes(range(256)) * 5000
    a.write_file("/tmp/blob", blob)
    assert a.exec("md5sum < /tmp/blob")[1].split()[0] == hashlib.md5(blob).hexdigest()
    assert a.read_file("/tmp/blob") == blob
    handle = a.command("guest-file-open", {"path": "/tmp/blob"})
    assert a.command("guest-file-seek", {"handle": handle, "offset": -3,
                                         "whence": "end"})["position"] == len(blob) - 3
    r = a.command("guest-file-read", {"handle": handle, "count": 10})
    assert base64.b64decode(r["buf-b64"]) == blob[-3:] and r["eof"]
    a.command("guest-file-close", {"handle": handle})
    with pytest.raises(AgentError):
        a.command("guest-file-read", {"handle": handle})
    with pytest.raises(AgentError):
        a.command("guest-file-open", {"path": "/no/such/file"})

    rc, out, _ = a.exec("ip -o -4 addr show dev eth0; ip route show default")
    assert "inet 10.0.2.15/24" in out and "default via 10.0.2.2 dev eth0" in out, out
    rc, out, _ = a.exec("ip -o link show lo")
    assert "UP" in out or "UNKNOWN" in out
    # Agent reboot: with -no-reboot QEMU reports the guest's reset and exits.
    a.shutdown("reboot")
    ev = g.qmp.wait_event({"SHUTDOWN", "RESET"}, timeout=30)
    assert ev["data"].get("reason") == "guest-reset", ev
    g.wait_exit()
    assert b"domus-guest: reboot" in g.log_text()


def test_console_shell_and_dhcp(boot):
    g = boot(append="domus.net0=dhcp",
             extra=["-netdev", "user,id=n0",
                    "-device", "virtio-net-pci,netdev=n0,romfile="])
    g.wait_ready()
    g.type("echo shell-$((6*7)); ip -o -4 addr show dev eth0\n")
    g.wait_log(rb"shell-42")
    g.wait_log(rb"inet 10\.0\.2\.15/24")
    g.type("sleep 30 &\njobs\n")
    g.wait_log(rb"\[1\]\+ +Running +sleep 30")
    assert b"job control turned off" not in g.log_text()
    a = g.connect_agent()
    rc, out, _ = a.exec("cat /etc/resolv.conf; ip route show default")
    assert "nameserver 10.0.2.3" in out and "default via 10.0.2.2" in out, out
    # ACPI power button: the guest powers itself off cleanly.
    g.qmp.cmd("system_powerdown")
    ev = g.qmp.wait_event({"SHUTDOWN"}, timeout=30)
    assert ev["data"].get("reason") == "guest-shutdown", ev
    assert g.wait_exit() == 0
    assert b"domus-guest: poweroff" in g.log_text()


def test_agent_poweroff_and_hvc0_console(boot):
    g = boot(append="console=hvc0",
             extra=["-chardev", f"file,id=hvc,path={LOGS}/hvc0-tmp.log",
                    "-device", "virtconsole,chardev=hvc"])
    g.wait_ready()
    a = g.connect_agent()
    rc, out, _ = a.exec("cut -d' ' -f1 /proc/consoles")
    assert set(out.split()) == {"ttyS0", "hvc0"}, out
    a.shutdown("powerdown")
    ev = g.qmp.wait_event({"SHUTDOWN"}, timeout=30)
    assert ev["data"].get("reason") == "guest-shutdown", ev
    g.wait_exit()
    hvc = (LOGS / "hvc0-tmp.log").read_bytes()
    os.unlink(LOGS / "hvc0-tmp.log")
    assert READY in hvc


@pytest.mark.parametrize("device", ["pvpanic-pci", "pvpanic"])
def test_panic_reaches_pvpanic(boot, device):
    g = boot(root=False, panic_device=device)
    g.wait_ready()
    a = g.connect_agent()
    rc, out, _ = a.exec("awk '$2 == \"/\" { print $3 }' /proc/mounts")
    assert out.strip() == "rootfs"
    a.sync()
    a._send("guest-exec", {"path": "/bin/sh",
                           "arg": ["-c", "echo c > /proc/sysrq-trigger"]})
    g.qmp.wait_event({"GUEST_PANICKED"}, timeout=30)


def test_agent_survives_host_disconnects(boot):
    # A root= that never appears: the initramfs carries on as the system.
    g = boot(root=False, append="root=/dev/mapper/VolGroup00-lvroot rootdelay=1")
    g.wait_ready()
    assert b"root device /dev/mapper/VolGroup00-lvroot not found" in g.log_text()
    for _ in range(3):
        with GuestAgent(g.qga_path) as a:
            a.ping()
            # Leave a partial request behind: the next client must resync.
            a.sock.sendall(b'{"execute": "guest-pi')
    a = g.connect_agent()
    assert a.exec("echo ok")[1] == "ok\n"
    # The agent must not spin while nobody is connected.
    a.close()
    g.agent = None
    time.sleep(1.0)
    a = g.connect_agent()
    rc, out, _ = a.exec("cat /proc/$(pidof domus-agent)/stat")
    utime, stime = map(int, out.split()[13:15])
    assert utime + stime < 50, out
    # `poweroff` typed on the console goes through busybox init.
    g.type("poweroff\n")
    ev = g.qmp.wait_event({"SHUTDOWN"}, timeout=30)
    assert ev["data"].get("reason") == "guest-shutdown", ev


def test_hvm_image_boots(boot):
    g = boot(machine="pc", kernel=False, root=False,
             extra=["-drive", f"file={GUEST / 'hvm.img'},if=none,id=h0,format=raw,"
                              "snapshot=on",
                    "-device", "ide-hd,drive=h0,bus=ide.0,serial=hda",
                    "-fw_cfg", "name=opt/domus/cmdline,string=domus.hostname=hvmguest "
                               "domus.net0=10.0.2.15/24,,10.0.2.2",  # QEMU doubles commas
                    "-netdev", "user,id=n0",
                    "-device", "virtio-net-pci,netdev=n0,romfile="])
    g.wait_ready(timeout=90)
    # Parameters given through fw_cfg (HVM has no kernel command line).
    g.wait_log(rb"domus-guest: hvmguest kernel .* eth0=10\.0\.2\.15/24")
    # The IDE disk's serial (SCSI VPD page 0x80 via libata) names it.
    g.type("cat /sys/block/sda/device/model; stat -c '%n=%t:%T' /dev/hda1 /dev/sda1\n")
    g.wait_log(rb"QEMU HARDDISK")
    m = g.wait_log(rb"/dev/hda1=(\w+:\w+)\s+/dev/sda1=(\w+:\w+)")
    assert m.group(1) == m.group(2)
    g.qmp.cmd("system_powerdown")
    ev = g.qmp.wait_event({"SHUTDOWN"}, timeout=30)
    assert ev["data"].get("reason") == "guest-shutdown", ev


def partitioned_disk(path, size_mib=4):
    """A raw disk with an MBR and one Linux partition (sectors 2048-4095)."""
    mbr = bytearray(512)
    mbr[446:462] = bytes([0, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff]) + \
        (2048).to_bytes(4, "little") + (2048).to_bytes(4, "little")
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(mbr)
        f.truncate(size_mib << 20)


def test_disk_names_hotplug_nics_and_balloon(boot):
    disk = LOGS / "kit-hda.img"
    hot = LOGS / "kit-xvdb.img"
    scsi = LOGS / "kit-xvdc.img"
    for d in (disk, hot, scsi):
        partitioned_disk(d)
    try:
        g = boot(append="quiet domus.net0=10.0.2.15/24 domus.net1=192.168.50.2/24",
                 extra=["-drive", f"file={disk},if=none,id=d1,format=raw",
                        "-device", "virtio-blk-pci,drive=d1,serial=hda",
                        "-drive", f"file={scsi},if=none,id=d3,format=raw",
                        "-device", "virtio-scsi-pci",
                        "-device", "scsi-hd,drive=d3,serial=xvdc",
                        "-drive", f"file={hot},if=none,id=d2,format=raw",
                        "-device", "pcie-root-port,id=rp1,chassis=1",
                        "-device", "virtio-balloon-pci",
                        "-smp", "1,maxcpus=2",
                        "-netdev", "user,id=n0",
                        "-device", "virtio-net-pci,netdev=n0,romfile=",
                        "-netdev", "user,id=n1,net=192.168.50.0/24",
                        "-device", "virtio-net-pci,netdev=n1,romfile="])
        g.wait_ready()
        a = g.connect_agent()
        rc, out, _ = a.exec("stat -c '%n %t:%T' /dev/hda /dev/vdb /dev/hda1 /dev/vdb1")
        names = dict(line.split() for line in out.splitlines())
        assert rc == 0 and names["/dev/hda"] == names["/dev/vdb"], out
        assert names["/dev/hda1"] == names["/dev/vdb1"], out
        assert a.exec("test -e /dev/xvda21")[0] != 0
        rc, out, _ = a.exec("stat -c %t:%T /dev/xvdc1 /dev/sda1")
        assert rc == 0 and len(set(out.split())) == 1, out

        rc, out, _ = a.exec("ip -o -4 addr show")
        assert "eth0    inet 10.0.2.15/24" in out and "eth1    inet 192.168.50.2/24" in out, out
        # slirp answers ICMP echo for its own gateway address.
        assert a.exec("ping -c 1 -W 5 10.0.2.2")[0] == 0

        # Hot-plugged disk: named by the uevent helper.
        r = g.qmp.cmd("device_add", driver="virtio-blk-pci", drive="d2",
                      serial="xvdb", bus="rp1", id="hot0")
        assert "return" in r, r
        rc, out, _ = a.exec("for i in $(seq 100); do [ -b /dev/xvdb1 ] && break; "
                            "usleep 100000; done; stat -c %t:%T /dev/xvdb /dev/vdc")
        assert rc == 0 and len(set(out.split())) == 1, out

        # Hot-added vCPU: onlined by the uevent helper.
        slot = next(c for c in g.qmp.cmd("query-hotpluggable-cpus")["return"]
                    if "qom-path" not in c)
        r = g.qmp.cmd("device_add", driver=slot["type"], id="cpu1", **slot["props"])
        assert "return" in r, r
        rc, out, _ = a.exec("for i in $(seq 100); do [ $(nproc) = 2 ] && break; "
                            "usleep 100000; done; nproc")
        assert out.strip() == "2", out

        # Balloon: the guest gives memory back when asked.
        g.qmp.cmd("balloon", value=192 << 20)
        deadline = time.monotonic() + 30
        while g.qmp.cmd("query-balloon")["return"]["actual"] > 200 << 20:
            assert time.monotonic() < deadline, "balloon did not inflate"
            time.sleep(0.1)
    finally:
        for d in (disk, hot, scsi):
            d.unlink(missing_ok=True)


def test_agent_protocol_edge_cases_on_host(tmp_path):
    """Run domus-agent on the host over a raw pty: bad input, resync, limits."""
    import pty
    import tty
    agent_bin = GUEST / "work/domus-agent"
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen([str(agent_bin), "-p", os.ttyname(slave),
                             "-r", str(tmp_path / "ready")])
    deadline = time.monotonic() + 10
    while not (tmp_path / "ready").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "agent did not start"
        time.sleep(0.01)
    os.close(slave)
    buf = b""

    def request(data, timeout=10):
        nonlocal buf
        os.write(master, data)
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            assert time.monotonic() < deadline, f"no reply to {data!r}"
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                buf += os.read(master, 65536)
        line, buf = buf.split(b"\n", 1)
        return line

    try:
        assert json.loads(request(b"nonsense{]"))["error"]["class"] == "GenericError"
        reply = json.loads(request(b'{"execute": "no-such", "id": "x1"}'))
        assert reply["error"]["class"] == "CommandNotFound" and reply["id"] == "x1"
        # A partial request, then 0xFF: the agent starts afresh.
        line = request(b'{"execute": "guest-pi\xff{"execute":"guest-sync-delimited",'
                       b'"arguments":{"id":7}}')
        assert line == b'\xff{"return":7}'
        reply = json.loads(request(json.dumps({
            "execute": "guest-exec",
            "arguments": {"path": "/nonexistent/prog"}}).encode()))
        assert "Failed to execute" in reply["error"]["desc"]
        reply = json.loads(request(json.dumps({
            "execute": "guest-exec-status", "arguments": {"pid": 1}}).encode()))
        assert "error" in reply
        reply = json.loads(request(json.dumps({
            "execute": "guest-exec",
            "arguments": {"path": "sh", "arg": ["-c", "head -c 3000000 /dev/zero; echo $V"],
                          "env": ["V=from-env", "PATH=/usr/bin:/bin"],
                          "capture-output": "merged"}}).encode()))
        pid = reply["return"]["pid"]
        for _ in range(200):
            st = json.loads(request(json.dumps({
                "execute": "guest-exec-status", "arguments": {"pid": pid}}).encode()))
            if st["return"]["exited"]:
                break
            time.sleep(0.02)
        out = base64.b64decode(st["return"]["out-data"])
        assert st["return"]["exitcode"] == 0
        assert len(out) == 3000000 + len("from-env\n") and out.endswith(b"from-env\n")
        target = str(tmp_path / "f")
        reply = json.loads(request(json.dumps({
            "execute": "guest-file-open", "arguments": {"path": target, "mode": "x"}}).encode()))
        assert reply["error"]["desc"] == "Invalid parameter 'mode'"
        h = json.loads(request(json.dumps({
            "execute": "guest-file-open", "arguments": {"path": target, "mode": "w+"}}).encode()))
        h = h["return"]
        for cmd, args, ok in [("guest-file-write", {"buf-b64": "aGVsbG8=", "count": 4}, True),
                              ("guest-file-seek", {"offset": 1, "whence": 0}, True),
                              ("guest-file-read", {"count": 100}, True),
                              ("guest-file-write", {"buf-b64": "!!"}, False),
                              ("guest-file-read", {"count": -1}, False),
                              ("guest-file-flush", {}, True),
                              ("guest-file-close", {}, True),
                              ("guest-file-close", {}, False)]:
            reply = json.loads(request(json.dumps({
                "execute": cmd, "arguments": {"handle": h, **args}}).encode()))
            assert ("return" in reply) == ok, (cmd, args, reply)
            if cmd == "guest-file-read" and ok:
                assert base64.b64decode(reply["return"]["buf-b64"]) == b"ell"
        assert (tmp_path / "f").read_bytes() == b"hell"
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def test_qga_client_long_socket_path_and_stale_replies(tmp_path):
    """qga.py reaches sockets past sun_path's limit and skips stale replies."""
    long_dir = tmp_path / ("d" * 60) / ("e" * 60)
    long_dir.mkdir(parents=True)
    path = long_dir / "qga.sock"
    assert len(str(path)) > 107
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dfd = os.open(long_dir, os.O_PATH)
    server.bind(f"/proc/self/fd/{dfd}/qga.sock")
    os.close(dfd)
    server.listen(1)

    def fake_agent():
        conn, _ = server.accept()
        f = conn.makefile("rb")
        # A reply left over from an earlier client, before any request.
        conn.sendall(b'{"return": {"stale": true}}\n')
        for line in f:
            line = line.lstrip(b"\xff")
            if not line.strip():
                continue
            req = json.loads(line)
            if req["execute"] == "guest-sync-delimited":
                conn.sendall(b"\xff" + json.dumps(
                    {"return": req["arguments"]["id"]}).encode() + b"\n")
            else:
                conn.sendall(b'{"return": {}}\n')
        conn.close()

    t = threading.Thread(target=fake_agent, daemon=True)
    t.start()
    with GuestAgent(path, connect_timeout=5) as a:
        assert a.command("guest-ping") == {}
    server.close()
    t.join(5)
