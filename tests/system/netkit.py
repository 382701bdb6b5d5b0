"""Helpers for the virtual networking tests (test_net*.py).

Open vSwitch is one ovsdb-server + ovs-vswitchd per network namespace here:
each test that needs it starts a private pair inside its own namespace, with
OVS_RUNDIR pointing at a directory of the instance, and the instance's daemon
inherits OVS_RUNDIR so its ovs-vsctl/ovs-ofctl reach that pair. Bridges use
the userspace datapath (datapath_type=netdev, no kernel module needed);
QEMU's Linux taps, created in the same namespace, are added to them as
system ports, so every packet stays inside the test's namespace and no test
touches another's switch.
"""
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import DOMUS, Netns, wait_for

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


class OvsNetns(Netns):
    """A namespace with its own Open vSwitch and the instance's daemon."""

    def __init__(self, name, rundir):
        super().__init__(name)
        self.rundir = rundir
        self.env = dict(os.environ, OVS_RUNDIR=str(rundir), OVS_LOGDIR=str(rundir),
                        OVS_DBDIR=str(rundir))
        self.procs = []

    def sh(self, *args, check=True):
        return subprocess.run(self.prefix + [str(a) for a in args], capture_output=True,
                              text=True, check=check, env=self.env)

    def vsctl(self, *args, check=True):
        return self.sh("ovs-vsctl", "--timeout=10", *args, check=check)

    def start_ovs(self):
        d = self.rundir
        subprocess.run(["ovsdb-tool", "create", f"{d}/conf.db", SCHEMA], check=True)
        self.procs.append(subprocess.Popen(
            self.prefix + ["ovsdb-server", f"{d}/conf.db", f"--remote=punix:{d}/db.sock",
                           f"--log-file={d}/ovsdb-server.log"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: os.path.exists(f"{d}/db.sock"), 10, "ovsdb-server")
        self.vsctl("--no-wait", "init")
        self.procs.append(subprocess.Popen(
            self.prefix + ["ovs-vswitchd", f"unix:{d}/db.sock",
                           f"--log-file={d}/ovs-vswitchd.log"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: self.vsctl("show", check=False).returncode == 0, 10, "ovs-vswitchd")

    def ovs_bridge(self, name):
        self.vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
        self.sh("ip", "link", "set", name, "up")

    def internal_port(self, bridge, name, addr, tag=None):
        """A host-side port of BRIDGE in this namespace, with address ADDR."""
        self.vsctl("add-port", bridge, name, *([f"tag={tag}"] if tag else []), "--",
                   "set", "interface", name, "type=internal")
        self.sh("ip", "addr", "add", addr, "dev", name)
        self.sh("ip", "link", "set", name, "up")

    def flows(self, bridge):
        return self.sh("ovs-ofctl", "dump-flows", bridge).stdout

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def have(*tools):
    return all(shutil.which(t) for t in tools)


@pytest.fixture
def ovs_netns(instance):
    """A namespace running a private Open vSwitch and the instance's daemon."""
    if not have("ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"):
        pytest.skip("Open vSwitch is not installed (openvswitch-switch)")
    rundir = instance.root / "ovs"
    rundir.mkdir()
    ns = OvsNetns("dt" + uuid.uuid4().hex[:8], rundir)
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        ns.sh("ip", "link", "set", "lo", "up")
        ns.start_ovs()
        subprocess.run(ns.prefix + ["env", f"DOMUS_ROOT={instance.root}", str(DOMUS),
                                    "daemon", "start"], check=True, env=ns.env)
        yield ns
    finally:
        subprocess.run([str(DOMUS), "daemon", "stop", "--destroy-all"], env=instance.env,
                       capture_output=True, timeout=60)
        ns.stop()
        for f in rundir.glob("*.log"):
            shutil.copy(f, instance.logdir / f.name)
        subprocess.run(["ip", "netns", "del", ns.name], capture_output=True)


def can_ping(ga, addr, count=2):
    rc, _, _ = ga.exec(f"ping -c {count} -W 2 {addr}", timeout=30)
    return rc == 0


def wait_gone(ns, what, timeout=10):
    """Wait until WHAT no longer appears in the namespace's links."""
    deadline = time.monotonic() + timeout
    while what in ns.links():
        if time.monotonic() > deadline:
            raise AssertionError(f"'{what}' still present: {ns.links()}")
        time.sleep(0.1)


LOADER = "/lib64/ld-linux-x86-64.so.2"


def push_tool(ga, tool):
    """Copy the host's TOOL, its libraries and the loader into the guest's
    /tmp (the guest kit has only busybox); returns the command to run it."""
    binary = shutil.which(tool)
    libs = [line.split("=>")[1].split()[0] for line in
            subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines()
            if "=>" in line and "/" in line.split("=>")[1]]
    for path in [binary, LOADER, *libs]:
        with open(os.path.realpath(path), "rb") as f:
            ga.write_file(f"/tmp/{os.path.basename(path)}", f.read())
    assert ga.exec("chmod 755 /tmp/*")[0] == 0
    return f"/tmp/{os.path.basename(LOADER)} --library-path /tmp /tmp/{os.path.basename(binary)}"
