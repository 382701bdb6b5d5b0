"""A migration lab for system tests and bench/migrate.sh.

Five network namespaces joined at layer 2 by a Linux bridge in a "switch"
namespace (one veth per namespace, switch end on bridge sw0):

    switch  sw0 <- p-a, p-b, p-san, p-cli
    A, B    Domus hosts (own instance root and domusd, mutual TLS); bridge
            xenbr0 (10.89.0.1 / .2) for the guests' vifs, uplinked to sw0
    san     a storage host: a VG of Domus LVs exported by `domus nbd-serve
            --tcp 10.89.0.10:PORT`, one export per LV
    cli     a client (10.89.0.100), whose TCP stream to the guest must
            survive the migration; its route has rto_min 5ms so a lost
            segment is resent within a few ms of the guest coming back,
            and the stream's largest gap measures the downtime from outside

`python3 migkit.py stream HOST PORT` (run inside cli) is the stream
client: it sends numbered 9-byte records every 2 ms through one TCP
connection to an echo server (busybox `nc -l -p PORT -e cat` in the
guest), checks every echoed record arrives once and in order, prints
"connected", and on "stop" on its stdin prints a JSON summary.
"""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import DOMUS, KIT, Instance, domains, wait_for  # noqa: E402
from qga import GuestAgent  # noqa: E402

NET = "10.89.0"
ADDR_A, ADDR_B, ADDR_SAN, ADDR_CLI, GUEST_IP = (f"{NET}.1", f"{NET}.2", f"{NET}.10",
                                                f"{NET}.100", f"{NET}.50")
RELOC_PORT = 8002
ECHO_PORT = 7000
RECORD = 9  # "%08d\n"


def certtool(*args):
    subprocess.run(["certtool", *map(str, args)], check=True, capture_output=True, text=True)


# ECDSA (P-256): a handshake costs ~10 ms less CPU than with certtool's
# default RSA-3072 (docs/domus.conf.md, relocation_tls_dir).
KEY_TYPE = ["--key-type=ecdsa"]


def make_pki(d: pathlib.Path, hosts):
    """A CA and one certificate per host, in d/<host>/{ca-cert,cert,key}.pem."""
    d.mkdir(parents=True, exist_ok=True)
    certtool("--generate-privkey", *KEY_TYPE, "--outfile", d / "ca-key.pem")
    (d / "ca.info").write_text("cn = Domus test CA\nca\ncert_signing_key\nexpiration_days = 2\n")
    certtool("--generate-self-signed", "--load-privkey", d / "ca-key.pem", "--template",
             d / "ca.info", "--outfile", d / "ca-cert.pem")
    for h in hosts:
        hd = d / h
        hd.mkdir()
        (hd / "ca-cert.pem").write_text((d / "ca-cert.pem").read_text())
        certtool("--generate-privkey", *KEY_TYPE, "--outfile", hd / "key.pem")
        (hd / "info").write_text(f"cn = {h}\ntls_www_server\ntls_www_client\n"
                                 "encryption_key\nsigning_key\nexpiration_days = 2\n")
        certtool("--generate-certificate", "--load-privkey", hd / "key.pem", "--load-ca-certificate",
                 d / "ca-cert.pem", "--load-ca-privkey", d / "ca-key.pem", "--template",
                 hd / "info", "--outfile", hd / "cert.pem")


class Ns:
    """A network namespace; commands run inside it."""

    def __init__(self, name):
        self.name = name
        self.prefix = ["ip", "netns", "exec", name]
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.sh("ip", "link", "set", "lo", "up")

    def sh(self, *args, check=True, timeout=60, env=None):
        p = subprocess.run(self.prefix + [str(a) for a in args], capture_output=True, text=True,
                           timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise AssertionError(f"[{self.name}] {' '.join(map(str, args))} failed "
                                 f"({p.returncode}): {p.stdout}{p.stderr}")
        return p

    def popen(self, args, **kw):
        return subprocess.Popen(self.prefix + [str(a) for a in args], **kw)

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Host(Ns):
    """A Domus host: its own instance root and daemon, bridge xenbr0 uplinked."""

    def __init__(self, name, root, logdir):
        super().__init__(name)
        self.inst = Instance(root, logdir)

    def start(self, conf):
        (self.inst.root / "etc/domus").mkdir(parents=True, exist_ok=True)
        (self.inst.root / "etc/domus/domus.conf").write_text(conf)
        self.sh("env", f"DOMUS_ROOT={self.inst.root}", DOMUS, "daemon", "start")

    def stop(self, logdir):
        subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"], env=self.inst.env,
                       capture_output=True, timeout=60)
        logs = self.inst.root / "var/log/domus"
        if logs.exists():
            shutil.copytree(logs, logdir / f"var-log-domus-{self.name[:3]}", dirs_exist_ok=True)


class Lab:
    """The namespaces above; close() removes everything it made."""

    def __init__(self, logdir):
        self.tag = uuid.uuid4().hex[:5]
        self.logdir = logdir
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="ml-", dir="/tmp"))
        self.nss, self.servers, self.hosts = [], [], []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _ns(self, cls, role, *args):
        ns = cls(f"{role}{self.tag}", *args)
        self.nss.append(ns)
        return ns

    def _uplink(self, ns, port, addr=None, bridge=None):
        subprocess.run(["ip", "link", "add", "up0", "netns", ns.name, "type", "veth", "peer",
                        "name", port, "netns", self.switch.name], check=True)
        self.switch.sh("ip", "link", "set", port, "master", "sw0")
        self.switch.sh("ip", "link", "set", port, "up")
        if bridge:
            ns.sh("ip", "link", "set", "up0", "master", bridge)
        else:
            ns.sh("ip", "addr", "add", f"{addr}/24", "dev", "up0")
        ns.sh("ip", "link", "set", "up0", "up")

    def _build(self):
        make_pki(self.base / "pki", ["a", "b"])
        self.switch = self._ns(Ns, "sw")
        self.switch.sh("ip", "link", "add", "sw0", "type", "bridge")
        self.switch.sh("ip", "link", "set", "sw0", "up")
        self.a = self._ns(Host, "mA", self.base / "a", self.logdir)
        self.b = self._ns(Host, "mB", self.base / "b", self.logdir)
        for h, addr, port in ((self.a, ADDR_A, "p-a"), (self.b, ADDR_B, "p-b")):
            h.sh("ip", "link", "add", "xenbr0", "type", "bridge")
            h.sh("ip", "addr", "add", f"{addr}/24", "dev", "xenbr0")
            h.sh("ip", "link", "set", "xenbr0", "up")
            self._uplink(h, port, bridge="xenbr0")
        self.san = self._ns(Ns, "san")
        self._uplink(self.san, "p-san", addr=ADDR_SAN)
        self.cli = self._ns(Ns, "cli")
        self._uplink(self.cli, "p-cli", addr=ADDR_CLI)
        self.cli.sh("ip", "route", "replace", f"{NET}.0/24", "dev", "up0", "src", ADDR_CLI,
                    "rto_min", "5ms")
        self.a.start(f'relocation_tls_dir = "{self.base}/pki/a"\n')
        self.hosts.append(self.a)
        self.b.start(f'relocation_tls_dir = "{self.base}/pki/b"\n'
                     f'relocation_listen = "{ADDR_B}:{RELOC_PORT}"\n'
                     f'relocation_hosts_allow = [ "{ADDR_A}" ]\n')
        self.hosts.append(self.b)
        self.san_inst = Instance(self.base / "san", self.logdir)
        self.san_inst.root.mkdir()

    # ---- the storage host ----

    def san_lv(self, name, size, image=None):
        """LV vg0/NAME of SIZE on the SAN (VG made on first use), IMAGE copied in."""
        if not (self.san_inst.root / "pv0.img").exists():
            subprocess.run(["truncate", "-s", "1G", str(self.san_inst.root / "pv0.img")],
                           check=True)
            self.san_inst.run("vgcreate", "vg0", self.san_inst.root / "pv0.img")
        self.san_inst.run("lvcreate", "-L", size, "-n", name, "vg0")
        if image:
            sock = self.san_inst.root / "fill.sock"
            srv = subprocess.Popen([str(DOMUS), "nbd-serve", f"vg0/{name}", "--unix", sock],
                                   env=self.san_inst.env, stderr=subprocess.DEVNULL)
            try:
                wait_for(lambda: sock.exists(), 10, "the fill server")
                subprocess.run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw",
                                str(image), f"nbd+unix:///?socket={sock}"], check=True,
                               capture_output=True)
            finally:
                srv.terminate()
                srv.wait(timeout=20)

    def serve(self, lv, port):
        """Export vg0/LV as LV on ADDR_SAN:PORT; returns the server process."""
        log = open(self.logdir / f"san-{lv}.log", "a")
        p = self.san.popen(["env", f"DOMUS_ROOT={self.san_inst.root}", DOMUS, "nbd-serve",
                            f"vg0/{lv}", "--tcp", f"{ADDR_SAN}:{port}", "--name", lv],
                           stdout=log, stderr=log)
        self.servers.append(p)
        wait_for(lambda: p.poll() is not None or
                 f":{port}" in self.san.sh("ss", "-Hltn").stdout, 10, f"nbd-serve on {port}")
        assert p.poll() is None, f"nbd-serve {lv} exited: see {log.name}"
        return p

    # ---- guests and the client ----

    def guest_cfg(self, name, disks, memory=256, mac="00:16:3e:5a:00:01", host=None):
        host = host or self.a
        path = host.inst.root / f"{name}.cfg"
        path.write_text(f"""name = "{name}"
kernel = "{KIT['vmlinuz']}"
ramdisk = "{KIT['initrd.img']}"
memory = {memory}
vcpus = 1
root = "/dev/xvda2 ro"
extra = "quiet domus.net0={GUEST_IP}/24"
disk = [ {", ".join(f"'{d}'" for d in disks)} ]
vif = [ 'mac={mac}, bridge=xenbr0' ]
""")
        return path

    def start_echo(self, inst, name, port=ECHO_PORT):
        """The echo server in domain NAME of INST, through its agent."""
        domid = domains(inst)[name]["domid"]
        self.start_echo_at(inst.root / f"run/domus/dom/{domid}/qga.sock", port)

    @staticmethod
    def start_echo_at(qga_sock, port=ECHO_PORT):
        """The echo server in the guest whose agent listens on QGA_SOCK."""
        with GuestAgent(str(qga_sock)) as ga:
            rc, out, err = ga.exec(f"setsid nc -l -p {port} -e cat </dev/null >/dev/null "
                                   "2>&1 &")
            assert rc == 0, err

    def stream(self, host=GUEST_IP, port=ECHO_PORT):
        return Stream(self.cli, host, port)

    def fdb_port(self, mac):
        """The switch port sw0 learned MAC on, or None."""
        for line in self.switch.sh("bridge", "fdb", "show", "br", "sw0").stdout.splitlines():
            f = line.split()
            if f and f[0] == mac and "dev" in f:
                return f[f.index("dev") + 1]
        return None

    def close(self):
        for h in self.hosts:
            h.stop(self.logdir)
        for p in self.servers:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for ns in reversed(self.nss):
            ns.delete()
        shutil.rmtree(self.base, ignore_errors=True)


class Stream:
    """The stream client running in namespace NS (see the module docstring)."""

    def __init__(self, ns, host, port):
        self.proc = ns.popen(["/usr/bin/python3", __file__, "stream", host, str(port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "connected":
            self.proc.kill()
            raise AssertionError(f"stream client: {line or self.proc.wait()}")

    def stop(self):
        out, _ = self.proc.communicate("stop\n", timeout=120)
        return json.loads(out.strip().splitlines()[-1])


def stream_main(host, port, interval=0.002):
    deadline = time.monotonic() + 20
    while True:
        try:
            s = socket.create_connection((host, port), timeout=2)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                print(f"cannot connect to {host}:{port}: {e}", flush=True)
                return 1
            time.sleep(0.2)
    s.settimeout(None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stop, closing = threading.Event(), threading.Event()
    st = {"sent": 0, "received": 0, "bad": 0, "error": None, "max_gap_ms": 0.0,
          "gap_start": None}

    def sender():
        try:
            while not stop.is_set():
                s.sendall(b"%08d\n" % st["sent"])
                st["sent"] += 1
                time.sleep(interval)
        except OSError as e:
            st["error"] = f"send: {e}"

    def receiver():
        buf, last = b"", time.monotonic()
        while True:
            try:
                data = s.recv(65536)
            except OSError as e:
                if not closing.is_set():
                    st["error"] = st["error"] or f"recv: {e}"
                return
            now = time.monotonic()
            if not data:
                if not closing.is_set():
                    st["error"] = st["error"] or "connection closed by the guest"
                return
            if now - last > st["max_gap_ms"] / 1000:
                st["max_gap_ms"], st["gap_start"] = (now - last) * 1000, last
            last = now
            buf += data
            while len(buf) >= RECORD:
                rec, buf = buf[:RECORD], buf[RECORD:]
                if rec != b"%08d\n" % st["received"]:
                    st["bad"] += 1
                st["received"] += 1

    ts, tr = threading.Thread(target=sender), threading.Thread(target=receiver)
    ts.start()
    tr.start()
    print("connected", flush=True)
    sys.stdin.readline()
    stop.set()
    ts.join()
    end = time.monotonic() + 30
    while st["received"] < st["sent"] and tr.is_alive() and time.monotonic() < end:
        time.sleep(0.01)
    if st["received"] < st["sent"]:
        st["error"] = st["error"] or "echo incomplete 30 s after the end"
    closing.set()
    s.shutdown(socket.SHUT_RDWR)
    tr.join()
    s.close()
    print(json.dumps(st), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "stream":
        sys.exit(stream_main(sys.argv[2], int(sys.argv[3])))
    print("usage: migkit.py stream HOST PORT", file=sys.stderr)
    sys.exit(2)
