"""`domus nbd-serve VG/LV`: logical volumes and snapshots over NBD.

The same clients as test_nbd.py (qemu-img, nbdinfo, nbdcopy, fio) against
an LV of a VG on a sparse file, with checksums; what a client writes lands
where `domus lvs --segments` says the extents are; a snapshot export reads
the snapshot's view and a writable one writes copy-on-write; the export
holds the LV so lvremove/lvreduce refuse and name the user.
"""
import os
import subprocess
import time

import pytest

from conftest import DOMUS
from test_nbd import Server, need, run, sha256

LV_SIZE = 80 << 20   # grown by lvextend below: two segments on the PV


@pytest.fixture
def vg(instance):
    pv = instance.root / "pv0.img"
    subprocess.run(["truncate", "-s", "1G", str(pv)], check=True)
    instance.run("vgcreate", "vg0", pv)
    instance.run("lvcreate", "-L", "64M", "-n", "disk", "vg0")
    instance.run("lvcreate", "-L", "8M", "-n", "other", "vg0")
    instance.run("lvextend", "-L", "80M", "vg0/disk")
    return pv


def serve(instance, lv, name, *extra):
    sock = instance.root / f"{name}.sock"
    srv = Server(instance, lv, "--unix", sock, extra=list(extra))
    srv.wait_unix(sock)
    return srv, f"nbd+unix:///?socket={sock}"


def random_file(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))


def segments(instance, lv):
    """[(logical start, length, pv path, physical byte offset)] of VG0/LV."""
    ext = int(instance.run("vgs", "--noheadings", "--units", "b", "--nosuffix",
                           "-o", "vg_extent_size", "vg0").stdout)
    pe_start = int(instance.run("pvs", "--noheadings", "--units", "b", "--nosuffix",
                                "-o", "pe_start").stdout)
    out = instance.run("lvs", "--segments", "--noheadings", "--units", "b", "--nosuffix",
                       "-o", "lv_name,seg_start,seg_size,devices", "vg0").stdout
    segs = []
    for row in out.splitlines():
        name, start, size, dev = row.split()
        if name == lv:
            path, pe = dev[:-1].split("(")
            segs.append((int(start), int(size), path, pe_start + int(pe) * ext))
    return segs


def test_interop_and_data_placement(instance, vg):
    need("qemu-img"), need("nbdinfo"), need("nbdcopy")
    srv, uri = serve(instance, "vg0/disk", "disk")
    try:
        assert run("nbdinfo", "--size", uri).strip() == str(LV_SIZE)
        assert "vg0/disk" in run("nbdinfo", "--list", "--json", uri)
        # A new LV on a sparse PV file: one hole (the PV file's own).
        rows = [line.split() for line in run("nbdinfo", "--map", uri).splitlines()]
        assert [(int(r[0]), int(r[1]), int(r[2])) for r in rows] == [(0, LV_SIZE, 3)]
        src = instance.root / "src.raw"
        random_file(src, LV_SIZE)
        run("nbdcopy", "--connections=4", "--requests=32", src, uri)
        out = instance.root / "out.raw"
        run("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, out)
        assert sha256(out) == sha256(src)
        # The data is where the metadata says, byte for byte.
        segs = segments(instance, "disk")
        assert len(segs) == 2 and sum(s[1] for s in segs) == LV_SIZE
        with open(src, "rb") as s:
            for start, size, path, phys in segs:
                with open(path, "rb") as pv:
                    pv.seek(phys)
                    s.seek(start)
                    assert pv.read(size) == s.read(size), (start, size)
        # Back the other way: qemu-img writes, nbdcopy reads.
        random_file(src, LV_SIZE)
        run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, uri)
        run("nbdcopy", uri, out)
        assert sha256(out) == sha256(src)
    finally:
        srv.stop()


def test_fio_verifies_on_lv(instance, vg):
    need("fio")
    if "nbd" not in run("fio", "--enghelp"):
        pytest.skip("fio has no nbd engine")
    srv, uri = serve(instance, "vg0/disk", "disk")
    try:
        run("fio", "--name=verify", "--ioengine=nbd", f"--uri={uri}", "--rw=randwrite",
            "--bs=4k", "--iodepth=32", "--size=16m", "--verify=crc32c",
            "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0",
            "--output-format=terse")
    finally:
        srv.stop()


def test_snapshot_exports(instance, vg):
    need("nbdcopy")
    before = instance.root / "before.raw"
    random_file(before, LV_SIZE)
    srv, uri = serve(instance, "vg0/disk", "disk")
    run("nbdcopy", before, uri)
    srv.stop()
    instance.run("lvcreate", "-s", "-L", "100M", "-n", "snap", "vg0/disk")
    after = instance.root / "after.raw"
    random_file(after, LV_SIZE)
    origin, ouri = serve(instance, "vg0/disk", "disk")
    ro, suri = serve(instance, "vg0/snap", "snap", "--readonly")
    try:
        run("nbdcopy", "--connections=4", after, ouri)
        out = instance.root / "out.raw"
        run("nbdcopy", suri, out)
        assert sha256(out) == sha256(before)
        run("nbdcopy", ouri, out)
        assert sha256(out) == sha256(after)
        assert "is_read_only: true" in run("nbdinfo", suri)
    finally:
        ro.stop()
    # A writable snapshot export writes copy-on-write: the origin keeps its data.
    rw, suri = serve(instance, "vg0/snap", "snap")
    try:
        third = instance.root / "third.raw"
        random_file(third, LV_SIZE)
        run("nbdcopy", third, suri)
        out = instance.root / "out.raw"
        run("nbdcopy", suri, out)
        assert sha256(out) == sha256(third)
        run("nbdcopy", ouri, out)
        assert sha256(out) == sha256(after)
    finally:
        rw.stop()
        origin.stop()


def test_export_holds_the_lv(instance, vg):
    srv, _ = serve(instance, "vg0/disk", "disk", "--holder", "domain web (id 7)")
    try:
        for cmd in (["lvremove", "vg0/disk"], ["lvreduce", "-f", "-L", "8M", "vg0/disk"]):
            p = instance.run(*cmd, check=False)
            assert p.returncode != 0
            assert "vg0/disk is in use by domain web (id 7)" in p.stderr, cmd
        # A second read-write (or read-only) user is refused and told who has it.
        for extra in ([], ["--readonly"]):
            p = subprocess.run([str(DOMUS), "nbd-serve", "vg0/disk", "--unix",
                                str(instance.root / "two.sock"), *extra],
                               env=instance.env, capture_output=True, text=True, timeout=30)
            assert p.returncode != 0
            assert "vg0/disk is in use by domain web (id 7)" in p.stderr
    finally:
        srv.stop()
    # Two read-only users are fine; then lvremove works once they are gone.
    a, _ = serve(instance, "vg0/disk", "a", "--readonly")
    b, _ = serve(instance, "vg0/disk", "b", "--readonly")
    a.stop()
    b.stop()
    instance.run("lvremove", "-f", "vg0/disk")


def test_missing_lv(instance, vg):
    p = instance.run("nbd-serve", "vg0/nope", "--unix", instance.root / "x.sock",
                     check=False)
    assert p.returncode != 0 and "vg0/nope" in p.stderr


def map_of(uri):
    """nbdinfo --map as [(offset, length, type)] (type 3: hole+zero, 0: data)."""
    rows = [line.split() for line in run("nbdinfo", "--map", uri).splitlines()]
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def test_block_status_follows_the_pv_file(instance, vg):
    """Block status on an LV: holes of the sparse PV file are holes, written
    ranges data, across both segments; a trimmed range is a hole again; a
    snapshot (spread over two LVs) says data."""
    need("nbdinfo"), need("qemu-io")
    srv, uri = serve(instance, "vg0/disk", "disk")
    try:
        seg0 = segments(instance, "disk")[0][1]
        run("qemu-io", "-f", "raw", "-c", "write -P 7 1M 2M", "-c", f"write -P 9 {seg0} 1M", uri)
        assert map_of(uri) == [(0, 1 << 20, 3), (1 << 20, 2 << 20, 0),
                               (3 << 20, seg0 - (3 << 20), 3), (seg0, 1 << 20, 0),
                               (seg0 + (1 << 20), LV_SIZE - seg0 - (1 << 20), 3)]
        run("qemu-io", "-f", "raw", "-c", "discard 1M 1M", uri)
        got = map_of(uri)
        assert got[0] == (0, 2 << 20, 3) and got[1] == (2 << 20, 1 << 20, 0), got
    finally:
        srv.stop()
    instance.run("lvcreate", "-s", "-L", "16M", "-n", "snap", "vg0/disk")
    srv, uri = serve(instance, "vg0/snap", "snap", "--readonly")
    try:
        assert map_of(uri) == [(0, LV_SIZE, 0)]
    finally:
        srv.stop()


def test_parallel_reads_while_the_vg_changes(instance, vg):
    """nbdcopy reads with 4 connections and 1 MiB requests (sendfile from the
    PV, parallel preads) while other LVs are created and new clients make
    the server reload the VG: the copy is exact."""
    need("nbdcopy"), need("nbdinfo")
    import threading
    src = instance.root / "src.raw"
    random_file(src, LV_SIZE)
    srv, uri = serve(instance, "vg0/disk", "disk")
    try:
        run("nbdcopy", src, uri)
        stop = threading.Event()

        def churn():
            i = 0
            while not stop.is_set() and i < 20:
                instance.run("lvcreate", "-L", "4M", "-n", f"churn{i}", "vg0")
                run("nbdinfo", "--size", uri)  # a GO: the server re-reads the VG
                i += 1

        t = threading.Thread(target=churn)
        t.start()
        out = instance.root / "out.raw"
        try:
            for _ in range(3):
                run("nbdcopy", "--connections=4", "--request-size=1048576", uri, out)
                assert sha256(out) == sha256(src)
        finally:
            stop.set()
            t.join()
    finally:
        srv.stop()


def test_slow_reader_does_not_block_writers(instance, vg):
    """A client that asks for 48 MiB of an LV and reads none of it leaves
    sendfile()s waiting on its socket; they hold no lock, so another client
    still writes (which takes the LV exclusively) and reads."""
    from test_nbd_protocol import Client, CMD_READ, CMD_WRITE
    srv, _ = serve(instance, "vg0/disk", "disk")
    sock = instance.root / "disk.sock"
    try:
        slow = Client(sock).go()
        for i in range(48):
            slow.request(CMD_READ, (i % 64) << 20, 1 << 20, cookie=i)
        time.sleep(0.5)
        other = Client(sock).go()
        other.s.settimeout(10)
        data = os.urandom(1 << 20)
        assert other.cmd(CMD_WRITE, 70 << 20, 1 << 20, data=data) == (0, b"")
        assert other.cmd(CMD_READ, 70 << 20, 1 << 20) == (0, data)
        got = slow.simples({i: 1 << 20 for i in range(48)})
        assert all(err == 0 for err, _ in got.values())
    finally:
        srv.stop()
