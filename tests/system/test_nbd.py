"""`domus nbd-serve` against real NBD clients: qemu-img, nbdinfo, nbdcopy, fio.

Each test serves a sparse 64 MiB image (random data at 8-12 MiB, holes
elsewhere) from a private instance root and checks what the clients see
against the image itself, with checksums for every copy.
"""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import DOMUS

SIZE = 64 << 20
DATA_AT, DATA_LEN = 8 << 20, 4 << 20


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_image(path, size=SIZE):
    """A sparse image; random data at DATA_AT if SIZE leaves room for it."""
    with open(path, "wb") as f:
        f.truncate(size)
        if size >= DATA_AT + DATA_LEN:
            f.seek(DATA_AT)
            f.write(os.urandom(DATA_LEN))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `domus nbd-serve` process; stop() checks it exits cleanly."""

    def __init__(self, instance, target, *listen, extra=()):
        self.logpath = instance.logdir / "nbd-serve.log"
        self.log = open(self.logpath, "a")
        self.proc = subprocess.Popen([str(DOMUS), "nbd-serve", str(target), *listen, *extra],
                                     env=instance.env, stdout=self.log, stderr=self.log)

    def wait_unix(self, path):
        # The socket file appears at bind(), before listen(): connect.
        for _ in range(250):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(path))
                return
            except OSError:
                assert self.proc.poll() is None, "nbd-serve exited early"
                time.sleep(0.02)
        raise AssertionError("nbd-serve did not listen on its socket")

    def wait_tcp(self, port):
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                return
            except OSError:
                assert self.proc.poll() is None, "nbd-serve exited early"
                time.sleep(0.02)
        raise AssertionError("nbd-serve did not listen")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        assert rc == 0, f"nbd-serve exited with {rc}"


@pytest.fixture
def served(instance):
    """(uri, image path, server) for a read-write export on a Unix socket."""
    img = instance.root / "disk.img"
    make_image(img)
    sock = instance.root / "nbd.sock"
    srv = Server(instance, img, "--unix", sock)
    srv.wait_unix(sock)
    try:
        yield f"nbd+unix:///?socket={sock}", img, srv
    finally:
        srv.stop()
    assert not sock.exists(), "the socket was left behind"


def run(*cmd, timeout=120):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd} failed ({p.returncode}):\n{p.stdout}{p.stderr}"
    return p.stdout


def test_qemu_img_info(served):
    need("qemu-img")
    uri, _, _ = served
    out = run("qemu-img", "info", "--output=json", uri)
    assert f'"virtual-size": {SIZE}' in out


def test_qemu_img_convert_both_ways(served, instance):
    need("qemu-img")
    uri, img, _ = served
    out = instance.root / "out.raw"
    run("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, out)
    assert sha256(out) == sha256(img)
    src = instance.root / "src.raw"
    with open(src, "wb") as f:
        f.write(os.urandom(SIZE))
    run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, uri)
    assert sha256(img) == sha256(src)


def test_nbdinfo_size_list_map(served):
    need("nbdinfo")
    uri, _, _ = served
    assert run("nbdinfo", "--size", uri).strip() == str(SIZE)
    listing = run("nbdinfo", "--list", "--json", uri)
    assert '"export-name": ""' in listing and "disk.img" in listing
    rows = [line.split() for line in run("nbdinfo", "--map", uri).splitlines()]
    extents = [(int(r[0]), int(r[1]), int(r[2])) for r in rows]
    assert extents == [(0, DATA_AT, 3), (DATA_AT, DATA_LEN, 0),
                       (DATA_AT + DATA_LEN, SIZE - DATA_AT - DATA_LEN, 3)]


def test_nbdcopy_both_ways(served, instance):
    need("nbdcopy")
    uri, img, _ = served
    out = instance.root / "copy.raw"
    run("nbdcopy", uri, out)
    assert sha256(out) == sha256(img)
    src = instance.root / "src.raw"
    with open(src, "wb") as f:
        f.write(os.urandom(SIZE))
    run("nbdcopy", "--connections=4", "--requests=32", src, uri)
    assert sha256(img) == sha256(src)


def test_fio_nbd_engine_verifies(served):
    need("fio")
    uri, _, _ = served
    if "nbd" not in run("fio", "--enghelp"):
        pytest.skip("fio has no nbd engine")
    run("fio", "--name=verify", "--ioengine=nbd", f"--uri={uri}", "--rw=randwrite",
        "--bs=4k", "--iodepth=32", "--size=16m", "--verify=crc32c",
        "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0",
        "--output-format=terse")


def test_tcp_listener(instance):
    need("qemu-img")
    img = instance.root / "disk.img"
    make_image(img)
    port = free_port()
    srv = Server(instance, img, "--tcp", f"127.0.0.1:{port}")
    srv.wait_tcp(port)
    try:
        out = run("qemu-img", "convert", "-f", "raw", "-O", "raw",
                  f"nbd://127.0.0.1:{port}", instance.root / "out.raw")
        assert out == "" and sha256(instance.root / "out.raw") == sha256(img)
    finally:
        srv.stop()


def test_readonly_export_refuses_writes(instance):
    need("nbdinfo")
    need("qemu-img")
    img = instance.root / "disk.img"
    make_image(img)
    before = sha256(img)
    sock = instance.root / "ro.sock"
    srv = Server(instance, img, "--unix", sock, extra=["--readonly"])
    srv.wait_unix(sock)
    uri = f"nbd+unix:///?socket={sock}"
    try:
        assert "is_read_only: true" in run("nbdinfo", uri)
        p = subprocess.run(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw",
                            str(img), uri], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
    finally:
        srv.stop()
    assert sha256(img) == before


def test_unknown_volume_is_reported(instance):
    p = instance.run("nbd-serve", "vg0/lv0", "--unix", instance.root / "x.sock", check=False)
    assert p.returncode == 1
    assert "cannot open logical volume vg0/lv0: no such volume group" in p.stderr


def test_usage_errors(instance):
    img = instance.root / "disk.img"
    make_image(img, 1 << 20)
    assert instance.run("nbd-serve", img, check=False).returncode == 2
    p = instance.run("nbd-serve", instance.root / "missing.img", "--unix",
                     instance.root / "x.sock", check=False)
    assert p.returncode == 1 and "missing.img" in p.stderr


def test_named_export(instance):
    need("nbdinfo")
    img = instance.root / "disk.img"
    make_image(img, 1 << 20)
    sock = instance.root / "named.sock"
    srv = Server(instance, img, "--unix", sock, extra=["--name", "disk0"])
    srv.wait_unix(sock)
    try:
        assert '"export-name": "disk0"' in run("nbdinfo", "--list", "--json",
                                               f"nbd+unix:///?socket={sock}")
        assert run("nbdinfo", "--size", f"nbd+unix:///disk0?socket={sock}").strip() == str(1 << 20)
        # The default export ("") is the first one.
        assert run("nbdinfo", "--size", f"nbd+unix:///?socket={sock}").strip() == str(1 << 20)
        p = subprocess.run(["nbdinfo", f"nbd+unix:///other?socket={sock}"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0
    finally:
        srv.stop()
