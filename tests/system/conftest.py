"""Shared fixtures for Domus system tests.

Each test gets a private instance root (a short path under /tmp, so Unix
socket paths stay under 108 bytes) and a log directory under
build/test-logs/<test name>/ that keeps the daemon log, console logs and
anything else the test saves. Everything a test starts is torn down even
when it fails.
"""
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DOMUS_BUILD", REPO / "build"))
DOMUS = BUILD / "domus"
DOMUSD = BUILD / "domusd"
GUEST = BUILD / "guest"
LOGS = BUILD / "test-logs"


class Instance:
    """A private Domus instance (one "host") rooted at self.root."""

    def __init__(self, root: pathlib.Path, logdir: pathlib.Path):
        self.root = root
        self.logdir = logdir
        self.env = dict(os.environ, DOMUS_ROOT=str(root))

    def run(self, *args, check=True, timeout=120, input=None):
        """Run `domus ARGS...` in this instance; returns CompletedProcess."""
        p = subprocess.run([str(DOMUS), *map(str, args)], env=self.env,
                           capture_output=True, text=True, timeout=timeout,
                           input=input)
        with open(self.logdir / "commands.log", "a") as f:
            f.write(f"$ domus {' '.join(map(str, args))}\n-> {p.returncode}\n"
                    f"{p.stdout}{p.stderr}\n")
        if check and p.returncode != 0:
            raise AssertionError(f"domus {' '.join(map(str, args))} failed "
                                 f"({p.returncode}):\n{p.stdout}{p.stderr}")
        return p

    def path(self, rel):
        return self.root / rel


@pytest.fixture
def instance(request):
    name = request.node.name.replace("/", "_")[:80]
    logdir = LOGS / name
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    root = pathlib.Path(tempfile.mkdtemp(prefix="dt-", dir="/tmp"))
    inst = Instance(root, logdir)
    yield inst
    subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"], env=inst.env,
                   capture_output=True, timeout=60)
    logs = root / "var/log/domus"
    if logs.exists():
        shutil.copytree(logs, logdir / "var-log-domus", dirs_exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)


# ---- guests -----------------------------------------------------------------

KIT = {name: GUEST / name for name in ("vmlinuz", "initrd.img", "rootfs.img", "hvm.img")}


def require_guest_kit():
    missing = [str(p) for p in KIT.values() if not p.exists()]
    if missing:
        pytest.fail("guest kit not built (run 'make guest'): missing " + ", ".join(missing))


def overlay(instance, name, base=None, fmt="raw"):
    """A private copy-on-write disk over a kit image (qcow2 overlay)."""
    base = base or KIT["rootfs.img"]
    path = instance.root / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base),
                    "-F", fmt, str(path)], check=True)
    return path


def write_cfg(instance, name, text):
    path = instance.root / f"{name}.cfg"
    path.write_text(text)
    return path


def pv_cfg(instance, name, memory=128, extra="", disks=None, more=""):
    """An xl.cfg for a PV guest booting the kit with its root on xvda2."""
    require_guest_kit()
    if disks is None:
        disks = [f"'{overlay(instance, name)},qcow2,xvda2,w'"]
    return write_cfg(instance, name, f"""# test guest {name}
name = "{name}"
kernel = "{KIT['vmlinuz']}"
ramdisk = "{KIT['initrd.img']}"
memory = {memory}
vcpus = 1
root = "/dev/xvda2 ro"
extra = "{extra}"
disk = [ {", ".join(disks)} ]
{more}
""")


def console_log(instance, name):
    return instance.root / "var/log/domus/console" / f"guest-{name}.log"


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def console_count(instance, name, marker="DOMUS-GUEST-READY"):
    try:
        return console_log(instance, name).read_bytes().count(marker.encode())
    except FileNotFoundError:
        return 0


def wait_ready(instance, name, count=1, timeout=90):
    """Wait until the guest's console log shows its COUNT-th READY line."""
    wait_for(lambda: console_count(instance, name) >= count, timeout,
             f"{name} to print DOMUS-GUEST-READY (#{count})")


def domains(instance):
    """`domus list -l` as a dict name -> entry."""
    out = instance.run("list", "-l").stdout
    return {d["name"]: d for d in json.loads(out)}


def agent(instance, name, timeout=30):
    from qga import GuestAgent
    domid = domains(instance)[name]["domid"]
    return GuestAgent(str(instance.root / f"run/domus/dom/{domid}/qga.sock"),
                      connect_timeout=timeout)


def qemu_pids(instance):
    """PIDs of QEMU processes whose working directory is in this instance."""
    pids = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cwd = os.readlink(p / "cwd")
            comm = (p / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("qemu") and cwd.startswith(str(instance.root)):
            pids.append(int(p.name))
    return pids


def qemu_tunables(pid):
    """The GLIBC_TUNABLES entries of process PID's environment. glibc cuts
    the original string in place at each ':' (/proc/PID/environ shows the
    pieces), so join them back."""
    env = pathlib.Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    found = []
    for i, e in enumerate(env):
        if e.startswith("GLIBC_TUNABLES="):
            parts = [e]
            for more in env[i + 1:]:
                if not more.startswith("glibc."):
                    break
                parts.append(more)
            found.append(":".join(parts))
    return found


# ---- network namespaces -------------------------------------------------------

class Netns:
    """A private network namespace in which the instance's daemon runs, so its
    taps and bridges never touch the host's network."""

    def __init__(self, name):
        self.name = name
        self.prefix = ["ip", "netns", "exec", name]

    def sh(self, *args, check=True):
        return subprocess.run(self.prefix + [str(a) for a in args], capture_output=True,
                              text=True, check=check)

    def bridge(self, name, addr=None):
        self.sh("ip", "link", "add", name, "type", "bridge")
        self.sh("ip", "link", "set", name, "up")
        if addr:
            self.sh("ip", "addr", "add", addr, "dev", name)

    def links(self):
        return self.sh("ip", "-o", "link", "show").stdout


@pytest.fixture
def netns(instance):
    import uuid
    ns = Netns("dt" + uuid.uuid4().hex[:8])
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    ns.sh("ip", "link", "set", "lo", "up")
    subprocess.run(ns.prefix + ["env", f"DOMUS_ROOT={instance.root}", str(DOMUS), "daemon",
                                "start"], check=True)
    yield ns
    subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"], env=instance.env,
                   capture_output=True, timeout=60)
    subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)
