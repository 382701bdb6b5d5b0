"""Live migration between two Domus "hosts": two instance roots whose
daemons run in two network namespaces joined by a veth pair, talking over
mutual TLS. Disks are shared (both hosts see the same files)."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import DOMUS, LOGS, Instance, agent, domains, pv_cfg, qemu_pids, wait_ready
from migkit import make_pki

ADDR_A, ADDR_B = "10.88.0.1", "10.88.0.2"


class Host:
    def __init__(self, name, root, logdir):
        self.inst = Instance(root, logdir)
        self.ns = name
        self.prefix = ["ip", "netns", "exec", name]

    def sh(self, *args, check=True):
        return subprocess.run(self.prefix + [str(a) for a in args], capture_output=True,
                              text=True, check=check)

    def start(self, conf):
        (self.inst.root / "etc/domus").mkdir(parents=True, exist_ok=True)
        (self.inst.root / "etc/domus/domus.conf").write_text(conf)
        subprocess.run(self.prefix + ["env", f"DOMUS_ROOT={self.inst.root}", str(DOMUS), "daemon",
                                      "start"], check=True)


@pytest.fixture
def hosts(request):
    tag = uuid.uuid4().hex[:6]
    base = pathlib.Path(tempfile.mkdtemp(prefix="dm-", dir="/tmp"))
    logdir = LOGS / request.node.name[:80]
    logdir.mkdir(parents=True, exist_ok=True)
    make_pki(base / "pki", ["a", "b"])
    a = Host(f"mA{tag}", base / "a", logdir)
    b = Host(f"mB{tag}", base / "b", logdir)
    for h in (a, b):
        subprocess.run(["ip", "netns", "add", h.ns], check=True)
        h.sh("ip", "link", "set", "lo", "up")
    subprocess.run(["ip", "link", "add", f"va{tag}", "netns", a.ns, "type", "veth", "peer",
                    "name", f"vb{tag}", "netns", b.ns], check=True)
    a.sh("ip", "addr", "add", f"{ADDR_A}/24", "dev", f"va{tag}")
    b.sh("ip", "addr", "add", f"{ADDR_B}/24", "dev", f"vb{tag}")
    a.sh("ip", "link", "set", f"va{tag}", "up")
    b.sh("ip", "link", "set", f"vb{tag}", "up")
    a.start(f'relocation_tls_dir = "{base}/pki/a"\n')
    b.start(f'relocation_tls_dir = "{base}/pki/b"\n'
            f'relocation_listen = "{ADDR_B}:8002"\nrelocation_hosts_allow = [ "{ADDR_A}" ]\n')
    yield a, b
    for h in (a, b):
        subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"], env=h.inst.env,
                       capture_output=True, timeout=60)
        subprocess.run(["ip", "netns", "del", h.ns], capture_output=True)
        logs = h.inst.root / "var/log/domus"
        if logs.exists():
            subprocess.run(["cp", "-r", str(logs), str(logdir / f"var-log-domus-{h.ns[:2]}")])
    subprocess.run(["rm", "-rf", str(base)])


def nice_values(pid):
    """The nice values of PID's threads and of its session's autogroup."""
    found = set()
    for stat in pathlib.Path(f"/proc/{pid}/task").glob("*/stat"):
        found.add(int(stat.read_text().rsplit(")", 1)[1].split()[16]))
    autogroup = pathlib.Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        found.add(int(autogroup.read_text().split()[-1]))
    return found


def guest_on(host, name, **kw):
    host.inst.run("create", pv_cfg(host.inst, name, **kw))
    wait_ready(host.inst, name)


@pytest.mark.parametrize("stream", ["direct", "relayed", "direct-kernel-buffers"])
def test_live_migration_shared_storage(hosts, stream):
    """The memory goes QEMU to QEMU over QEMU's TLS (direct, the default)
    or through the daemons' TLS connection (migration_stream = "relayed");
    direct again with the stream's socket buffers left to the kernel
    (migration_stream_buffer_kib = 0, on both hosts)."""
    a, b = hosts
    kernel_buffers = {h: "migration_stream_buffer_kib = 0\n" for h in (a, b)}
    extra = {"relayed": {a: 'migration_stream = "relayed"\n'},
             "direct-kernel-buffers": kernel_buffers}.get(stream, {})
    for h, line in extra.items():
        conf = h.inst.root / "etc/domus/domus.conf"
        h.inst.run("daemon", "stop")
        h.start(conf.read_text() + line)
    guest_on(a, "mover", memory=256)
    with agent(a.inst, "mover") as ga:
        rc, out, _ = ga.exec("head -c 8388608 /dev/urandom > /tmp/p && sha256sum /tmp/p")
        sha = out.split()[0]
        ga.exec("i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.05; done >/dev/null 2>&1 &")
    p = a.inst.run("migrate", "--live", "mover", ADDR_B, timeout=300)
    assert "migration to 10.88.0.2 completed" in p.stderr
    assert f"memory stream {stream.split('-')[0]}" in p.stderr, p.stderr
    assert "mover" not in domains(a.inst)
    assert qemu_pids(a.inst) == []
    dom = domains(b.inst)["mover"]
    assert dom["state"] == "running"
    # Its QEMU started at a raised priority (migration_incoming_priority)
    # and runs the guest at the normal one.
    assert nice_values(*qemu_pids(b.inst)) == {0}
    with agent(b.inst, "mover") as ga:
        rc, out, _ = ga.exec("sha256sum /tmp/p; cat /tmp/c")
        assert rc == 0 and out.split()[0] == sha
        c1 = int(out.split()[2])
        time.sleep(0.5)
        c2 = int(ga.exec("cat /tmp/c")[1])
        assert c2 > c1
    # and back again
    b.inst.run("migrate", "--live", "mover", ADDR_A, check=False)  # A does not listen
    assert "mover" in domains(b.inst)
    b.inst.run("destroy", "mover")


def test_refused_host_keeps_the_domain(hosts):
    a, b = hosts
    b.inst.run("daemon", "stop")
    (b.inst.root / "etc/domus/domus.conf").write_text(
        (b.inst.root / "etc/domus/domus.conf").read_text().replace(ADDR_A, "10.99.0.1"))
    b.start((b.inst.root / "etc/domus/domus.conf").read_text())
    guest_on(a, "stay")
    p = a.inst.run("migrate", "--live", "stay", ADDR_B, check=False, timeout=120)
    assert p.returncode == 1
    assert domains(a.inst)["stay"]["state"] == "running"
    assert domains(b.inst) == {}
    assert "not in relocation_hosts_allow" in b.inst.run("dmesg").stdout
    with agent(a.inst, "stay") as ga:
        assert ga.exec("true")[0] == 0


def test_stray_stream_connection_is_closed(hosts):
    """A connection that claims to carry a migration's memory stream but
    names no migration waiting for one is closed at once, and logged."""
    a, b = hosts
    probe = ("import socket; s = socket.create_connection(('%s', 8002), timeout=20); "
             "s.sendall(b'DOMUSMIG' + b'0' * 32); print(repr(s.recv(16)))" % ADDR_B)
    assert a.sh("python3", "-c", probe).stdout.strip() == "b''"
    assert "a stream for no migration waiting for one" in b.inst.run("dmesg").stdout
    guest_on(a, "after")  # the service still works
    p = a.inst.run("migrate", "--live", "after", ADDR_B, timeout=300)
    assert "memory stream direct" in p.stderr, p.stderr
    assert domains(b.inst)["after"]["state"] == "running"


def test_target_missing_bridge_keeps_the_domain(hosts):
    a, b = hosts
    a.sh("ip", "link", "add", "xenbr0", "type", "bridge")
    guest_on(a, "bridged", more="vif = [ 'bridge=xenbr0' ]")
    p = a.inst.run("migrate", "--live", "bridged", ADDR_B, check=False, timeout=120)
    assert p.returncode == 1 and "bridge 'xenbr0' does not exist" in p.stderr
    assert domains(a.inst)["bridged"]["state"] == "running"
    assert domains(b.inst) == {}
    assert qemu_pids(b.inst) == []


def test_target_failing_to_attach_the_vif_keeps_the_domain(hosts, tmp_path):
    """The target puts the incoming domain's vif on its bridge while the
    memory comes: when that fails (its nft refuses the antispoofing rules
    here), the migration ends before the point of no return and the domain
    keeps running on the source."""
    a, b = hosts
    for h in (a, b):
        h.sh("ip", "link", "add", "xenbr0", "type", "bridge")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nft").write_text("#!/bin/sh\n"
                              'if [ "$1" = "-f" ]; then echo "nft: no rules today" >&2; exit 1; fi\n'
                              f'exec {shutil.which("nft")} "$@"\n')
    (fake / "nft").chmod(0o755)
    b.inst.run("daemon", "stop")
    subprocess.run(b.prefix + ["env", f"PATH={fake}:{os.environ['PATH']}",
                               f"DOMUS_ROOT={b.inst.root}", str(DOMUS), "daemon", "start"],
                   check=True)
    guest_on(a, "bridged", more="vif = [ 'bridge=xenbr0' ]")
    p = a.inst.run("migrate", "--live", "bridged", ADDR_B, check=False, timeout=120)
    assert p.returncode == 1 and "no rules today" in p.stderr, p.stderr
    assert domains(a.inst)["bridged"]["state"] == "running"
    assert domains(b.inst) == {}
    assert qemu_pids(b.inst) == []
    with agent(a.inst, "bridged") as ga:
        assert ga.exec("true")[0] == 0


def test_hot_plugged_nic_migrates(hosts):
    """A NIC attached since the domain started goes with it, with its MAC,
    device id and slot, and detaches on the target."""
    a, b = hosts
    for h in (a, b):
        h.sh("ip", "link", "add", "xenbr0", "type", "bridge")
    guest_on(a, "plugged")
    a.inst.run("network-attach", "plugged", "mac=00:16:3e:20:00:07", "bridge=xenbr0")
    p = a.inst.run("migrate", "--live", "plugged", ADDR_B, timeout=300)
    assert "memory stream direct" in p.stderr, p.stderr
    rows = b.inst.run("network-list", "plugged").stdout.splitlines()[1:]
    assert [r.split()[0:3:2] for r in rows] == [["0", "00:16:3e:20:00:07"]], rows
    domid = domains(b.inst)["plugged"]["domid"]
    assert f"vif{domid}.0" in b.sh("ip", "-o", "link", "show", "master", "xenbr0").stdout
    with agent(b.inst, "plugged") as ga:
        assert "00:16:3e:20:00:07" in ga.exec("cat /sys/class/net/eth*/address")[1]
    b.inst.run("network-detach", "plugged", "0", timeout=60)
    assert b.inst.run("network-list", "plugged").stdout.splitlines()[1:] == []


def target_qemu(host, path, script):
    """Restart HOST's daemon with `qemu` = PATH, a shell script of SCRIPT."""
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    host.inst.run("daemon", "stop")
    conf = host.inst.root / "etc/domus/domus.conf"
    conf.write_text(conf.read_text() + f'qemu = "{path}"\n')
    host.start(conf.read_text())


def test_target_device_model_fails_keeps_the_domain(hosts, tmp_path):
    """The target answers "ok" and starts its QEMU while the memory comes:
    a QEMU that cannot start there ends the migration with its reason and
    the domain keeps running on the source."""
    a, b = hosts
    target_qemu(b, tmp_path / "broken-qemu", "echo 'broken device model' >&2\nexit 1\n")
    guest_on(a, "stays")
    t0 = time.monotonic()
    p = a.inst.run("migrate", "--live", "stays", ADDR_B, check=False, timeout=120)
    assert p.returncode == 1
    assert "broken device model" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 30
    assert domains(a.inst)["stays"]["state"] == "running"
    assert domains(b.inst) == {}
    with agent(a.inst, "stays") as ga:
        assert ga.exec("true")[0] == 0


def test_source_guest_runs_while_the_target_starts(hosts, tmp_path):
    """The target answers "ok" before its QEMU is up (here 3 s late). The
    source's QEMU must not begin its TLS handshake before that QEMU reads:
    QEMU does the handshake in its main loop on a blocking socket, and the
    guest froze until the target answered. The guest logs its clock every
    50 ms; the log shows no hole near the 3 s the target took (a frozen
    guest's clock jumps by the time it was frozen)."""
    a, b = hosts
    target_qemu(b, tmp_path / "slow-qemu", 'sleep 3\nexec qemu-system-x86_64 "$@"\n')
    guest_on(a, "ticker")
    with agent(a.inst, "ticker") as ga:
        ga.exec("while :; do cut -d' ' -f1 /proc/uptime >> /tmp/ticks; sleep 0.05; done "
                ">/dev/null 2>&1 &")
    time.sleep(1)
    a.inst.run("migrate", "--live", "ticker", ADDR_B, timeout=300)
    time.sleep(1)
    with agent(b.inst, "ticker") as ga:
        ticks = [float(x) for x in ga.exec("cat /tmp/ticks")[1].split()]
    hole = max(y - x for x, y in zip(ticks, ticks[1:]))
    assert len(ticks) > 20 and hole < 1.5, f"the guest's clock jumped {hole:.2f} s"


def test_target_killed_mid_copy(hosts):
    a, b = hosts
    a.inst.run("daemon", "stop")
    conf = a.inst.root / "etc/domus/domus.conf"
    conf.write_text(conf.read_text() + "migration_bandwidth = 4\n")  # MiB/s: a slow copy
    a.start(conf.read_text())
    guest_on(a, "victim", memory=256)
    with agent(a.inst, "victim") as ga:
        ga.exec("head -c 41943040 /dev/urandom > /tmp/fill")
    m = subprocess.Popen([str(DOMUS), "migrate", "--live", "victim", ADDR_B], env=a.inst.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    # One migration or save at a time.
    for cmd in (["migrate", "--live", "victim", ADDR_B], ["save", "victim", a.inst.root / "v.save"]):
        p = a.inst.run(*cmd, check=False, timeout=60)
        assert p.returncode != 0 and "already being saved or migrated" in p.stderr, p.stderr
    # The target shows what it has received so far (`list -l`).
    first = domains(b.inst)["victim--incoming"].get("migration", {})
    assert first.get("phase") == "receiving" and first.get("source") == ADDR_A, first
    time.sleep(1)
    later = domains(b.inst)["victim--incoming"]["migration"]
    assert later["memory"]["received"] > first["memory"]["received"] > 0, (first, later)
    pid = int((b.inst.root / "run/domus/domusd.pid").read_text())
    os.kill(pid, 9)
    for qp in qemu_pids(b.inst):
        os.kill(qp, 9)  # the host "dies": its QEMUs with it
    out, err = m.communicate(timeout=120)
    assert m.returncode == 1, err
    assert domains(a.inst)["victim"]["state"] == "running"
    with agent(a.inst, "victim") as ga:
        assert ga.exec("true")[0] == 0
    # The target, back up, has nothing left of it.
    assert domains(b.inst) == {}


def test_host_stop_migrates_to_configured_host(hosts):
    """xendomains' XENDOMAINS_MIGRATE: host-stop moves the running domains
    to another host instead of saving them."""
    a, b = hosts
    a.inst.run("daemon", "stop")
    conf = a.inst.root / "etc/domus/domus.conf"
    conf.write_text(conf.read_text() + 'on_host_stop = "migrate"\n'
                    f'host_stop_migrate_to = "{ADDR_B}:8002"\n')
    a.start(conf.read_text())
    guest_on(a, "evacuee")
    with agent(a.inst, "evacuee") as ga:
        ga.exec("echo still-here > /tmp/mark")
    a.inst.run("host-stop", timeout=300)
    assert domains(a.inst) == {} and qemu_pids(a.inst) == []
    assert not list((a.inst.root / "var/lib/domus/save").glob("*.save"))
    assert domains(b.inst)["evacuee"]["state"] == "running"
    with agent(b.inst, "evacuee") as ga:
        rc, out, _ = ga.exec("cat /tmp/mark")
        assert rc == 0 and out.strip() == "still-here", out
    b.inst.run("destroy", "evacuee")


def fake_ssh(d, host):
    """A stand-in for ssh: "fakessh HOST CMD..." runs CMD in HOST's namespace
    with its instance root."""
    fake = d / "fakessh"
    fake.write_text("#!/bin/sh\nshift\n"
                    f"exec ip netns exec {host.ns} env DOMUS_ROOT={host.inst.root} "
                    f"PATH={DOMUS.parent}:$PATH \"$@\"\n")
    fake.chmod(0o755)
    return fake


def test_migrate_through_ssh_command(hosts, tmp_path):
    """xl's -s: the source runs "SSHCMD HOST domus migrate-receive" and
    speaks the migration protocol over its stdin and stdout. A stand-in
    for ssh runs the command in B's namespace, with B's instance root."""
    a, b = hosts
    fake = fake_ssh(tmp_path, b)
    guest_on(a, "tunnelled")
    with agent(a.inst, "tunnelled") as ga:
        ga.exec("echo through-ssh > /tmp/mark")
    # A transport that fails: refused, the guest carries on.
    p = a.inst.run("migrate", "--live", "-s", "false", "tunnelled", "b", check=False,
                   timeout=120)
    assert p.returncode == 1 and "migrate-ssh.log" in p.stderr, p.stderr
    assert domains(a.inst)["tunnelled"]["state"] == "running"
    p = a.inst.run("migrate", "--live", "-s", str(fake), "tunnelled", "b", timeout=300)
    assert "migration to b completed" in p.stderr, p.stderr
    assert "memory stream relayed" in p.stderr, p.stderr  # through ssh, not around it
    assert "tunnelled" not in domains(a.inst)
    with agent(b.inst, "tunnelled") as ga:
        rc, out, _ = ga.exec("cat /tmp/mark")
        assert rc == 0 and out.strip() == "through-ssh", out
    assert "incoming migration of tunnelled from ssh" in b.inst.run("dmesg").stdout
    b.inst.run("destroy", "tunnelled")
