"""System tests of the volume manager verbs (domus pv*/vg*/lv*).

Interoperability runs against Debian's lvm2 in metadata-only mode on loop
devices (no device-mapper here, see ENVIRONMENT.md): lvm2 gets a private
config that only sees this test's loop devices. Other tests use sparse files
as PVs and need no lvm2.
"""
import json
import os
import pathlib
import shutil
import subprocess

import pytest


def lvm_available():
    return shutil.which("lvm") is not None and os.geteuid() == 0


class Lvm:
    """lvm2 with a private config that sees only the given loop devices."""

    def __init__(self, confdir: pathlib.Path, logdir: pathlib.Path):
        self.confdir = confdir
        self.logdir = logdir
        self.loops = []
        (confdir / "lock").mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, LVM_SYSTEM_DIR=str(confdir),
                        LVM_SUPPRESS_FD_WARNINGS="1")
        self.write_conf()

    def write_conf(self):
        accept = ", ".join(f'"a|^{d}$|"' for d in self.loops)
        filt = f"[ {accept}{', ' if accept else ''}\"r|.*|\" ]"
        (self.confdir / "lvm.conf").write_text(f"""
devices {{ obtain_device_list_from_udev = 0 use_devicesfile = 0 global_filter = {filt} }}
global {{ locking_dir = "{self.confdir}/lock" event_activation = 0 }}
activation {{ udev_sync = 0 udev_rules = 0 monitoring = 0 }}
backup {{ backup = 0 archive = 0 }}
""")

    def loop(self, image: pathlib.Path, size: str) -> str:
        subprocess.run(["truncate", "-s", size, str(image)], check=True)
        p = subprocess.run(["losetup", "-f", "--show", str(image)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"losetup failed: {p.stderr.strip()}")
        dev = p.stdout.strip()
        self.loops.append(dev)
        self.write_conf()
        return dev

    def run(self, *args, check=True):
        p = subprocess.run(["lvm", *args], env=self.env, capture_output=True,
                           text=True, timeout=120)
        with open(self.logdir / "lvm.log", "a") as f:
            f.write(f"$ lvm {' '.join(args)}\n-> {p.returncode}\n{p.stdout}{p.stderr}\n")
        if check and p.returncode != 0:
            raise AssertionError(f"lvm {' '.join(args)} failed:\n{p.stdout}{p.stderr}")
        return p

    def cleanup(self):
        for d in self.loops:
            subprocess.run(["losetup", "-d", d], capture_output=True)


@pytest.fixture
def lvm(instance):
    if not lvm_available():
        pytest.skip("lvm2 not installed or not root: interop tests need both")
    l = Lvm(instance.root / "lvm", instance.logdir)
    yield l
    l.cleanup()


def rows(text):
    return [line.split() for line in text.splitlines() if line.strip()]


SEG_FIELDS = "lv_name,seg_start,seg_size,devices"


def test_reads_vg_made_by_lvm2(instance, lvm):
    d1 = lvm.loop(instance.root / "d1.img", "512M")
    d2 = lvm.loop(instance.root / "d2.img", "512M")
    lvm.run("pvcreate", d1, d2)
    lvm.run("vgcreate", "-s", "4m", "vgl", d1, d2)
    lvm.run("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "100M", "-n", "lv1", "vgl")
    lvm.run("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "40M", "-n", "lv2", "vgl")
    lvm.run("lvextend", "--driverloaded", "n", "-L", "+200M", "vgl/lv1")
    lvm.run("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-i2", "-I64", "-L", "16M",
            "-n", "striped", "vgl")
    # Not in the devices list yet: Domus does not see it.
    assert "vgl" not in instance.run("vgs").stdout
    out = instance.run("pvscan", d1, d2).stdout
    assert "vgl" in out
    ours = instance.run("lvs", "--segments", "--noheadings", "--units", "s",
                        "-o", SEG_FIELDS).stdout
    theirs = lvm.run("lvs", "--segments", "--noheadings", "--units", "s",
                     "-o", SEG_FIELDS).stdout
    assert rows(ours) == rows(theirs)
    assert len([r for r in rows(ours) if r[0] == "lv1"]) == 2
    for cmd, fields in (("pvs", "pv_name,vg_name,pv_size,pv_free,pv_uuid,pe_start"),
                        ("vgs", "vg_name,pv_count,lv_count,vg_size,vg_free,vg_uuid,vg_seqno"),
                        ("lvs", "lv_name,vg_name,lv_size,lv_uuid,seg_count")):
        ours = instance.run(cmd, "--noheadings", "--units", "b", "-o", fields).stdout
        theirs = lvm.run(cmd, "--noheadings", "--units", "b", "-o", fields).stdout
        assert rows(ours) == rows(theirs), cmd
    assert instance.run("vgck", "vgl").returncode == 0
    # Data written through Domus lands where lvm2 says the extents are.
    from conftest import BUILD
    subprocess.run([str(BUILD / "src/storage/domus-storage-bench"), str(instance.root),
                    "vgl/lv1", "300", "1024"], check=True, capture_output=True)
    pe_start = {r[0]: int(r[1][:-1]) for r in rows(lvm.run(
        "pvs", "--noheadings", "--units", "b", "-o", "pv_name,pe_start").stdout)}
    ext = 4 << 20
    for lv, fill in (("lv1", b"\xa5"), ("lv2", b"\0")):
        segs = rows(lvm.run("lvs", "--segments", "--noheadings", "-o",
                            "seg_pe_ranges", f"vgl/{lv}").stdout)
        for (rng,) in segs:
            dev, pes = rng.split(":")
            first, last = map(int, pes.split("-"))
            with open(dev, "rb") as f:
                for pe in (first, last):
                    f.seek(pe_start[dev] + pe * ext + ext // 2)
                    assert f.read(4096) == fill * 4096, (lv, rng, pe)


def test_lvm2_reads_what_domus_wrote(instance, lvm):
    d1 = lvm.loop(instance.root / "d1.img", "256M")
    d2 = lvm.loop(instance.root / "d2.img", "128M")
    instance.run("pvcreate", d1)
    instance.run("vgcreate", "vgd", d1)
    instance.run("vgextend", "vgd", d2)
    instance.run("lvcreate", "-L", "100M", "-n", "dom1-disk", "vgd")
    instance.run("lvcreate", "-L", "20M", "-n", "swap", "vgd")
    instance.run("lvextend", "-L", "+200M", "vgd/dom1-disk")
    instance.run("lvcreate", "-l", "50%FREE", "-n", "rest", "vgd")
    instance.run("lvrename", "vgd", "rest", "other")
    lvm.run("vgck", "vgd")
    for cmd, fields in (("pvs", "pv_name,vg_name,pv_size,pv_free,pv_uuid,pe_start,dev_size"),
                        ("vgs", "vg_name,pv_count,lv_count,vg_size,vg_free,vg_uuid,vg_seqno"),
                        ("lvs", "lv_name,vg_name,lv_size,lv_uuid,seg_count")):
        ours = instance.run(cmd, "--noheadings", "--units", "b", "-o", fields).stdout
        theirs = lvm.run(cmd, "--noheadings", "--units", "b", "-o", fields).stdout
        assert rows(ours) == rows(theirs), cmd
    ours = instance.run("lvs", "--segments", "--noheadings", "--units", "s", "-o", SEG_FIELDS)
    theirs = lvm.run("lvs", "--segments", "--noheadings", "--units", "s", "-o", SEG_FIELDS)
    assert rows(ours.stdout) == rows(theirs.stdout)
    # Human-readable default reports are the same text, except lv_attr
    # (lvm2 cannot query device-mapper here and prints X).
    ours = instance.run("vgs").stdout
    theirs = lvm.run("vgs").stdout
    assert ours == theirs
    # lvm2 changes on top; Domus reads them back.
    lvm.run("lvextend", "--driverloaded", "n", "-L", "+8M", "vgd/swap")
    lvm.run("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "12M", "-n", "fromlvm", "vgd")
    ours = instance.run("lvs", "--segments", "--noheadings", "--units", "s", "-o", SEG_FIELDS)
    theirs = lvm.run("lvs", "--segments", "--noheadings", "--units", "s", "-o", SEG_FIELDS)
    assert rows(ours.stdout) == rows(theirs.stdout)
    # And Domus can keep changing a VG lvm2 wrote last.
    instance.run("lvremove", "vgd/fromlvm")
    instance.run("lvreduce", "-L", "-4M", "vgd/swap")
    lvm.run("vgck", "vgd")
    assert "fromlvm" not in lvm.run("lvs", "vgd").stdout
    # vgremove leaves PVs lvm2 sees as orphans.
    instance.run("vgremove", "-f", "vgd")
    out = lvm.run("pvs", "--noheadings", "-o", "pv_name,vg_name").stdout
    assert rows(out) == [[d1], [d2]]
    fields = "pv_name,pv_size,pv_free,pv_uuid,pe_start"
    assert rows(instance.run("pvs", "--noheadings", "--units", "b", "-o", fields).stdout) == \
        rows(lvm.run("pvs", "--noheadings", "--units", "b", "-o", fields).stdout)


@pytest.fixture
def files(instance):
    """Three 1 GiB sparse files to use as PVs."""
    paths = []
    for i in range(3):
        p = instance.root / f"pv{i}.img"
        subprocess.run(["truncate", "-s", "1G", str(p)], check=True)
        paths.append(str(p))
    return paths


def test_reports_and_units(instance, files):
    instance.run("vgcreate", "vg0", files[0], files[1])
    instance.run("lvcreate", "-L", "6G", "-n", "too-big", "vg0", check=False)
    instance.run("lvcreate", "-L", "1G", "-n", "dom1-disk", "vg0")
    instance.run("lvcreate", "-L", "500M", "-n", "dom1-swap", "vg0")
    out = instance.run("lvs").stdout.splitlines()
    assert out[0].split() == ["LV", "VG", "Attr", "LSize", "Pool", "Origin", "Data%",
                              "Meta%", "Move", "Log", "Cpy%Sync", "Convert"]
    assert out[1].split()[:4] == ["dom1-disk", "vg0", "-wi-a-----", "1.00g"]
    assert out[2].split()[3] == "500.00m"
    # dom1-disk spans two PVs: two linear segments.
    segs = rows(instance.run("lvs", "--segments", "--noheadings", "-o",
                             "lv_name,devices", "vg0/dom1-disk").stdout)
    assert len(segs) == 2
    data = json.loads(instance.run("lvs", "--reportformat", "json").stdout)
    lvs = data["report"][0]["lv"]
    assert [l["lv_name"] for l in lvs] == ["dom1-disk", "dom1-swap"]
    assert lvs[1]["lv_size"] == "500.00m"
    size = instance.run("vgs", "--noheadings", "--nosuffix", "--units", "m", "-o",
                        "vg_size").stdout.strip()
    assert size == "2040.00"
    assert "PV Size               1.00 GiB / not usable 4.00 MiB" in instance.run(
        "pvdisplay", files[0]).stdout
    assert instance.run("pvs", "-o", "pv_name,nope", check=False).returncode != 0


def test_refusals(instance, files):
    p = instance.run("vgcreate", "a/b", files[0], check=False)
    assert p.returncode != 0 and "invalid volume group name" in p.stderr
    instance.run("vgcreate", "vg0", files[0])
    p = instance.run("vgcreate", "vg1", files[0], check=False)
    assert p.returncode != 0 and "already in a volume group" in p.stderr
    p = instance.run("lvcreate", "-L", "2G", "-n", "x", "vg0", check=False)
    assert p.returncode != 0 and "insufficient free space" in p.stderr
    p = instance.run("lvcreate", "-L", "4M", "-n", "snapshot0", "vg0", check=False)
    assert p.returncode != 0 and "invalid logical volume name" in p.stderr
    p = instance.run("lvcreate", "-L", "4M", "-n", "x", "nope", check=False)
    assert p.returncode != 0 and 'volume group "nope" not found' in p.stderr
    instance.run("lvcreate", "-L", "4M", "-n", "x", "vg0")
    p = instance.run("lvcreate", "-L", "4M", "-n", "x", "vg0", check=False)
    assert p.returncode != 0 and "already exists" in p.stderr
    p = instance.run("lvextend", "-L", "4M", "vg0/x", check=False)
    assert p.returncode != 0 and "not larger" in p.stderr
    p = instance.run("vgremove", "vg0", check=False)
    assert p.returncode != 0 and "still contains" in p.stderr
    p = instance.run("lvremove", "vg0/y", check=False)
    assert p.returncode != 0 and "not found" in p.stderr
    p = instance.run("pvremove", files[0], check=False)
    assert p.returncode != 0
    instance.run("lvremove", "vg0/x")
    instance.run("vgremove", "vg0")
    instance.run("pvremove", files[0])
    assert instance.run("pvs", "--noheadings").stdout.strip() == ""


def test_rounding_and_percent(instance, files):
    instance.run("vgcreate", "-s", "8m", "vg0", files[0])
    out = instance.run("lvcreate", "-L", "10M", "-n", "a", "vg0").stdout
    assert "Rounding up size to full physical extent 16.00 MiB" in out
    instance.run("lvcreate", "-l", "50%FREE", "-n", "b", "vg0")
    instance.run("lvcreate", "-l", "100%FREE", "-n", "c", "vg0")
    free = instance.run("vgs", "--noheadings", "-o", "vg_free_count").stdout.strip()
    assert free == "0"
    ext = {r[0]: int(r[1]) for r in rows(instance.run(
        "lvs", "--noheadings", "--units", "s", "--nosuffix", "-o", "lv_name,lv_size").stdout)}
    assert ext["a"] == 16 * 2048
    # 125 free extents: 50% is 62 (rounded down, as lvm2 does), 63 remain.
    assert ext["b"] == 62 * 8 * 2048
    assert ext["c"] == 63 * 8 * 2048


def test_vgcfgrestore_after_damage(instance, files):
    instance.run("vgcreate", "vg0", files[0], files[1])
    instance.run("lvcreate", "-L", "100M", "-n", "keep", "vg0")
    backup = instance.root / "vg0.backup"
    instance.run("vgcfgbackup", "-f", backup, "vg0")
    # Damage the metadata area header of one PV: the other copy is used.
    with open(files[0], "r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * 512)
    assert "keep" in instance.run("lvs").stdout
    p = instance.run("vgck", "vg0", check=False)
    assert p.returncode != 0 and "old or damaged" in p.stderr
    instance.run("vgck", "--updatemetadata", "vg0")
    instance.run("vgck", "vg0")
    # Damage both: the VG is gone until vgcfgrestore.
    for path in files[:2]:
        with open(path, "r+b") as f:
            f.seek(4096)
            f.write(b"\xff" * 512)
    assert "vg0" not in instance.run("vgs").stdout
    instance.run("vgcfgrestore", "-f", backup, "vg0")
    assert "keep" in instance.run("lvs").stdout
    instance.run("vgck", "vg0")


def test_devices_list_isolates_instances(instance, files, tmp_path):
    instance.run("vgcreate", "vg0", files[0])
    devices = instance.path("var/lib/domus/storage/devices").read_text()
    assert files[0] in devices
    other = dict(instance.env, DOMUS_ROOT=str(tmp_path))
    from conftest import DOMUS
    p = subprocess.run([str(DOMUS), "vgs", "--noheadings"], env=other,
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == ""


@pytest.mark.parametrize("verb", ["lvcreate", "lvextend", "lvreduce", "lvremove",
                                  "vgextend", "vgreduce", "lvrename", "snapshot"])
def test_kill_at_every_write(instance, files, verb):
    """Kill the command after its Nth write, for every N: the VG then
    reads at the old or the new seqno, and vgck finds nothing wrong."""
    instance.run("vgcreate", "vg0", files[0], files[1])
    instance.run("lvcreate", "-L", "100M", "-n", "a", "vg0")
    if verb == "vgreduce":
        instance.run("vgextend", "vg0", files[2])
    args = {
        "lvcreate": ["lvcreate", "-L", "1200M", "-n", "b", "vg0"],
        "lvextend": ["lvextend", "-L", "+1G", "vg0/a"],
        "lvreduce": ["lvreduce", "-L", "-40M", "vg0/a"],
        "lvremove": ["lvremove", "vg0/a"],
        "vgextend": ["vgextend", "vg0", files[2]],
        "vgreduce": ["vgreduce", "vg0", files[2]],
        "lvrename": ["lvrename", "vg0/a", "b"],
        "snapshot": ["lvcreate", "-s", "-L", "20M", "-n", "snap", "vg0/a"],
    }[verb]
    snapshot = {p: pathlib.Path(p).read_bytes()[:2 << 20] for p in files}
    devices = instance.path("var/lib/domus/storage/devices").read_text()

    def seqno():
        return int(instance.run("vgs", "--noheadings", "-o", "vg_seqno", "vg0")
                   .stdout.strip())

    before = seqno()
    for n in range(0, 100):
        for p, data in snapshot.items():
            with open(p, "r+b") as f:
                f.write(data)
        instance.path("var/lib/domus/storage/devices").write_text(devices)
        env = dict(instance.env, DOMUS_STORAGE_FAULT=f"kill:{n}")
        from conftest import DOMUS
        p = subprocess.run([str(DOMUS), *args], env=env, capture_output=True, text=True)
        after = seqno()
        assert after in (before, before + 1), (n, after)
        check = instance.run("vgck", "vg0", check=False)
        if check.returncode != 0:
            # Killed between the commits on the two PVs: one copy is
            # still the old one; the newest wins and a rewrite repairs.
            assert "old or damaged" in check.stderr
            instance.run("vgck", "--updatemetadata", "vg0")
            instance.run("vgck", "vg0")
            assert seqno() == after + 1
        if verb == "vgreduce" and after == before + 1:
            # Even if killed before its label was cleared, the PV that
            # left is free for use again.
            instance.run("vgextend", "vg0", files[2])
        if p.returncode == 0:
            assert after == before + 1
            break
        assert p.returncode == 137
    else:
        pytest.fail("command never completed")


def vg_state(instance):
    """{vg name: seqno} as domus sees it."""
    out = instance.run("vgs", "--noheadings", "-o", "vg_name,vg_seqno").stdout
    return {r[0]: int(r[1]) for r in rows(out)}


@pytest.mark.parametrize("verb", ["vgcreate", "vgremove", "vgrename"])
def test_kill_vg_lifecycle(instance, files, verb):
    """Kill vgcreate/vgremove/vgrename after each write: the VG is in its
    old or its new state, and the command can be run again to finish."""
    from conftest import DOMUS
    pvs = files[:2]
    if verb != "vgcreate":
        instance.run("vgcreate", "vg0", *pvs)
        instance.run("lvcreate", "-L", "100M", "-n", "a", "vg0")
    args = {"vgcreate": ["vgcreate", "vg0", *pvs], "vgremove": ["vgremove", "-f", "vg0"],
            "vgrename": ["vgrename", "vg0", "vg1"]}[verb]
    old = vg_state(instance)
    new = {"vgcreate": {"vg0": 1}, "vgremove": {},
           "vgrename": {"vg1": old.get("vg0", 0) + 1}}[verb]
    devfile = instance.path("var/lib/domus/storage/devices")
    snapshot = {p: pathlib.Path(p).read_bytes()[:2 << 20] for p in pvs}
    devices = devfile.read_text() if devfile.exists() else None
    for n in range(0, 100):
        for p, data in snapshot.items():
            with open(p, "r+b") as f:
                f.write(data)
        if devices is None:
            devfile.unlink(missing_ok=True)
        else:
            devfile.write_text(devices)
        env = dict(instance.env, DOMUS_STORAGE_FAULT=f"kill:{n}")
        p = subprocess.run([str(DOMUS), *args], env=env, capture_output=True, text=True)
        state = vg_state(instance)
        if p.returncode == 0:
            assert state == new
            break
        assert p.returncode == 137
        assert state in (old, new), (n, state)
        for name in state:
            if instance.run("vgck", name, check=False).returncode != 0:
                instance.run("vgck", "--updatemetadata", name)
        # Running the command again finishes the job.
        if set(state) != set(new):
            instance.run(*args)
        # (a repair by vgck --updatemetadata may have bumped the seqno)
        assert set(vg_state(instance)) == set(new)
    else:
        pytest.fail("command never completed")


def test_concurrent_commands_serialise(instance, files):
    """Parallel lvcreates on one VG: every one lands, none is lost."""
    instance.run("vgcreate", "vg0", files[0], files[1])
    from conftest import DOMUS
    procs = [subprocess.Popen([str(DOMUS), "lvcreate", "-L", "8M", "-n", f"lv{i}", "vg0"],
                              env=instance.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(12)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    names = instance.run("lvs", "--noheadings", "-o", "lv_name").stdout.split()
    assert sorted(names) == sorted(f"lv{i}" for i in range(12))
    assert instance.run("vgs", "--noheadings", "-o", "vg_seqno").stdout.strip() == "13"
    instance.run("vgck", "vg0")


def test_lvm2_reads_domus_snapshot(instance, lvm):
    d1 = lvm.loop(instance.root / "d1.img", "256M")
    instance.run("vgcreate", "vgs1", d1)
    instance.run("lvcreate", "-L", "40M", "-n", "origin", "vgs1")
    instance.run("lvcreate", "-s", "-c", "8k", "-L", "12M", "-n", "snap", "vgs1/origin")
    lvm.run("vgck", "vgs1")
    out = lvm.run("lvs", "--noheadings", "--units", "b", "-o",
                  "lv_name,origin,lv_size,snap_count,chunk_size", "vgs1").stdout
    assert rows(out) == [["origin", "41943040B", "1", "0B"],
                         ["snap", "origin", "12582912B", "1", "8192B"]]
    fields = "vg_name,pv_count,lv_count,snap_count,vg_size,vg_free,vg_seqno"
    assert rows(instance.run("vgs", "--noheadings", "--units", "b", "-o", fields).stdout) == \
        rows(lvm.run("vgs", "--noheadings", "--units", "b", "-o", fields).stdout)
    out = lvm.run("lvs", "--noheadings", "-o", "lv_name,lv_attr", "vgs1").stdout
    attrs = dict(rows(out))
    assert attrs["origin"][0] == "o" and attrs["snap"][0] == "s"
    # lvm2 removes it; Domus sees a plain LV again.
    lvm.run("lvremove", "-f", "vgs1/snap")
    out = instance.run("lvs", "--noheadings", "-o", "lv_name,lv_attr").stdout
    assert rows(out) == [["origin", "-wi-a-----"]]


def test_snapshot_verbs(instance, files):
    instance.run("vgcreate", "vg0", files[0])
    instance.run("lvcreate", "-L", "100M", "-n", "dom1-disk", "vg0")
    instance.run("lvcreate", "--snapshot", "-L", "20M", "-n", "backup", "vg0/dom1-disk")
    lvs = {r[0]: r for r in rows(instance.run("lvs", "--noheadings").stdout)}
    assert lvs["dom1-disk"][2] == "owi-a-s---"
    assert lvs["backup"][2] == "swi-a-s---" and lvs["backup"][4] == "dom1-disk"
    assert instance.run("vgs", "--noheadings", "-o", "snap_count").stdout.strip() == "1"
    p = instance.run("lvextend", "-L", "+4M", "vg0/dom1-disk", check=False)
    assert p.returncode != 0 and "has snapshots" in p.stderr
    p = instance.run("lvremove", "vg0/dom1-disk", check=False)
    assert p.returncode != 0 and "has snapshots" in p.stderr
    p = instance.run("lvcreate", "-s", "-L", "4M", "-n", "s2", "vg0/backup", check=False)
    assert p.returncode != 0
    instance.run("lvextend", "-L", "+4M", "vg0/backup")
    instance.run("lvrename", "vg0/dom1-disk", "disk")
    assert rows(instance.run("lvs", "--noheadings", "-o", "lv_name,origin",
                             "vg0/backup").stdout) == [["backup", "disk"]]
    instance.run("lvconvert", "--merge", "vg0/backup")
    assert rows(instance.run("lvs", "--noheadings", "-o", "lv_name").stdout) == [["disk"]]
    instance.run("lvcreate", "-s", "-l", "20%ORIGIN", "-n", "again", "vg0/disk")
    instance.run("lvremove", "vg0/again")
    instance.run("vgck", "vg0")


def write_lv(instance, lv, mib):
    """Write MIB MiB at the start of LV through the LV data API."""
    from conftest import BUILD
    subprocess.run([str(BUILD / "src/storage/domus-storage-bench"), str(instance.root),
                    lv, str(mib), "1024"], check=True, capture_output=True)


def test_snapshot_fills_and_shrink_refused(instance, files):
    instance.run("vgcreate", "vg0", files[0])
    instance.run("lvcreate", "-L", "64M", "-n", "o", "vg0")
    instance.run("lvcreate", "-s", "-L", "20M", "-n", "s", "vg0/o")
    write_lv(instance, "vg0/o", 8)
    p = instance.run("lvreduce", "-L", "4M", "vg0/s", check=False)
    assert p.returncode != 0 and "below what it holds" in p.stderr
    lvs = {r[0]: r for r in rows(instance.run("lvs", "--noheadings", "-o",
                                              "lv_name,lv_attr,data_percent").stdout)}
    assert lvs["s"][1] == "swi-a-s---" and 40 < float(lvs["s"][2]) < 45
    # 32 MiB of changes do not fit in 20 MiB: the snapshot becomes invalid,
    # says so, and the origin keeps working.
    write_lv(instance, "vg0/o", 32)
    lvs = {r[0]: r for r in rows(instance.run("lvs", "--noheadings", "-o",
                                              "lv_name,lv_attr,data_percent").stdout)}
    assert lvs["s"][1] == "swi-I-s---" and lvs["s"][2] == "100.00"
    write_lv(instance, "vg0/o", 64)
    p = instance.run("lvconvert", "--merge", "vg0/s", check=False)
    assert p.returncode != 0 and "invalid" in p.stderr
    instance.run("lvremove", "vg0/s")


def test_open_lv_is_protected(instance, files):
    from conftest import BUILD
    instance.run("vgcreate", "vg0", files[0])
    instance.run("lvcreate", "-L", "16M", "-n", "disk", "vg0")
    holder = subprocess.Popen([str(BUILD / "src/storage/domus-storage-bench"),
                               str(instance.root), "vg0/disk", "0", "1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        attr = instance.run("lvs", "--noheadings", "-o", "lv_attr").stdout.strip()
        assert attr == "-wi-ao----"
        assert "Open LV               1" in instance.run("vgdisplay").stdout
        for cmd in (["lvremove", "vg0/disk"], ["lvreduce", "-L", "8M", "vg0/disk"],
                    ["vgremove", "-f", "vg0"]):
            p = instance.run(*cmd, check=False)
            assert p.returncode != 0 and "vg0/disk is in use" in p.stderr, cmd
        instance.run("lvextend", "-L", "+8M", "vg0/disk")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert instance.run("lvs", "--noheadings", "-o", "lv_attr").stdout.strip() == "-wi-a-----"
    instance.run("lvremove", "vg0/disk")


SNAPSHOT0 = '''
snapshot0 {
id = "abcdef-ghij-klmn-opqr-stuv-wxyz-ABCDEF"
status = ["READ", "WRITE"]
flags = []
creation_time = 1
creation_host = "lvm2-host"
segment_count = 1
segment1 {
start_extent = 0
extent_count = 10
type = "snapshot"
chunk_size = 16
origin = "origin"
cow_store = "cow"
}
}
'''


def test_uses_snapshot_made_by_lvm2(instance, lvm):
    """lvm2 cannot create a snapshot without device-mapper, but it writes the
    same metadata when restoring it: Domus then uses that snapshot, and its
    COW store gets the dm layout where lvm2 says the COW LV is."""
    import struct
    d1 = lvm.loop(instance.root / "d1.img", "128M")
    lvm.run("pvcreate", d1)
    lvm.run("vgcreate", "vgz", d1)
    lvm.run("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "40M", "-n", "origin", "vgz")
    lvm.run("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "12M", "-n", "cow", "vgz")
    backup = instance.root / "vgz.txt"
    lvm.run("vgcfgbackup", "-f", str(backup), "vgz")
    text = backup.read_text()
    at = text.index("logical_volumes {") + len("logical_volumes {")
    backup.write_text(text[:at] + SNAPSHOT0 + text[at:])
    lvm.run("vgcfgrestore", "-f", str(backup), "vgz")
    instance.run("pvscan", d1)
    lvs = {r[0]: r for r in rows(instance.run("lvs", "--noheadings", "-o",
                                              "lv_name,lv_attr,origin").stdout)}
    assert lvs["cow"][1:] == ["swi-a-s---", "origin"]
    assert lvs["origin"][1] == "owi-a-s---"
    write_lv(instance, "vgz/origin", 4)
    pe_start = int(lvm.run("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o",
                           "pe_start", d1).stdout.strip())
    (rng,) = rows(lvm.run("lvs", "--noheadings", "-o", "seg_pe_ranges", "vgz/cow").stdout)[0]
    first = int(rng.split(":")[1].split("-")[0])
    with open(d1, "rb") as f:
        f.seek(pe_start + first * (4 << 20))
        hdr = f.read(16)
        f.seek(pe_start + first * (4 << 20) + 8192)  # first exception area
        old, new = struct.unpack("<QQ", f.read(16))
    assert hdr == b"SnAp" + struct.pack("<III", 1, 1, 16)
    assert (old, new) == (0, 2)
    data = float(rows(instance.run("lvs", "--noheadings", "-o", "data_percent",
                                   "vgz/cow").stdout)[0][0])
    assert 30 < data < 40  # 4 MiB saved (+ header and table) of 12 MiB
    lvm.run("vgck", "vgz")


def test_backups_interchange_with_lvm2(instance, lvm):
    """A vgcfgbackup file from either side restores with the other."""
    d1 = lvm.loop(instance.root / "d1.img", "128M")
    instance.run("vgcreate", "vgb", d1)
    instance.run("lvcreate", "-L", "20M", "-n", "a", "vgb")
    ours = instance.root / "ours.txt"
    instance.run("vgcfgbackup", "-f", ours, "vgb")
    instance.run("lvremove", "vgb/a")
    lvm.run("vgcfgrestore", "-f", str(ours), "vgb")
    assert rows(instance.run("lvs", "--noheadings", "-o", "lv_name").stdout) == [["a"]]
    lvm.run("lvcreate", "--driverloaded", "n", "-an", "-Zn", "-L", "8M", "-n", "b", "vgb")
    theirs = instance.root / "theirs.txt"
    lvm.run("vgcfgbackup", "-f", str(theirs), "vgb")
    instance.run("lvremove", "vgb/b")
    instance.run("vgcfgrestore", "-f", theirs, "vgb")
    assert rows(lvm.run("lvs", "--noheadings", "-o", "lv_name", "vgb").stdout) == [["a"], ["b"]]
    lvm.run("vgck", "vgb")
