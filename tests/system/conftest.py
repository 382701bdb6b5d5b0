"""Shared fixtures for Domus system tests.

Each test gets a private instance root (a short path under /tmp, so Unix
socket paths stay under 108 bytes) and a log directory under
build/test-logs/<test name>/ that keeps the daemon log, console logs and
anything else the test saves. Everything a test starts is torn down even
when it fails.
"""
import os
import pathlib
import shutil
import subprocess
import tempfile

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
