"""Live migration with local storage: the guest's disks are Domus LVs that
only the source host sees; each host has its own VG "vgm" (same name,
different UUID) on its own sparse file. The target creates the LVs, the
source's QEMU mirrors the disks into them through the relocation service
while the guest runs, and the switch-over happens with memory and disks
complete. Reuses the two-host fixture of test_migrate.py."""
import os
import subprocess
import time

import pytest

from conftest import DOMUS, KIT, agent, domains, pv_cfg, qemu_pids, wait_ready
from test_lvdisks import copy_into_lv, disk_servers
from test_migrate import ADDR_B, fake_ssh, hosts  # noqa: F401  (the fixture)
from test_nbd import Server, run

REC = 4096


def make_vg(host, size="2G", lvs=True):
    """VG vgm; with LVS, root (the kit's rootfs) and data (random bytes)."""
    pv = host.inst.root / "pv-vgm.img"
    subprocess.run(["truncate", "-s", size, str(pv)], check=True)
    host.inst.run("vgcreate", "vgm", pv)
    if lvs:
        host.inst.run("lvcreate", "-L", "40M", "-n", "root", "vgm")
        host.inst.run("lvcreate", "-L", "16M", "-n", "data", "vgm")
        copy_into_lv(host.inst, KIT["rootfs.img"], "vgm/root")
        rnd = host.inst.root / "random.img"
        rnd.write_bytes(os.urandom(16 << 20))
        copy_into_lv(host.inst, rnd, "vgm/data")
        rnd.unlink()


def lv_bytes(inst, lv):
    sock = inst.root / "rd.sock"
    srv = Server(inst, lv, "--unix", sock, extra=["--readonly"])
    srv.wait_unix(sock)
    out = inst.root / "rd.raw"
    try:
        run("nbdcopy", f"nbd+unix:///?socket={sock}", out)
    finally:
        srv.stop()
    data = out.read_bytes()
    out.unlink()
    return data


def records(data):
    """How many leading 4 KiB records of the writer DATA holds; checks each."""
    n = 0
    while n * REC < len(data) and data[n * REC:n * REC + 4] == b"rec ":
        assert data[n * REC:n * REC + 12] == b"rec %08d" % n, f"record {n} is wrong"
        n += 1
    return n


def lv_guest(host, name):
    cfg = pv_cfg(host.inst, name, extra="rw", disks=[
        "'phy:/dev/vgm/root,xvda2,w'", "'phy:/dev/vgm/data,xvdb,w'"])
    host.inst.run("create", cfg)
    wait_ready(host.inst, name)


WRITER = ("i=0; while [ ! -e /tmp/stop ]; do printf 'rec %08d' $i | dd of=/dev/xvdb bs=4096 seek=$i conv=sync,fsync,notrunc "
          "oflag=direct 2>/dev/null; echo $i > /tmp/n; i=$((i+1)); sleep 0.02; done "
          ">/dev/null 2>&1 &")


@pytest.mark.parametrize("bandwidth,copy", [(0, None), (16, None), (16, "write-blocking")])
def test_live_migration_local_storage(hosts, bandwidth, copy):  # noqa: F811
    """With and without a bandwidth cap (MiB/s): capped, the guest's writes
    land while the disks are still being copied; write-blocking: each goes
    to both copies before the guest sees it done."""
    a, b = hosts
    if bandwidth:
        a.inst.run("daemon", "stop")
        conf = a.inst.root / "etc/domus/domus.conf"
        a.start(conf.read_text() + f"migration_bandwidth = {bandwidth}\n" +
                (f'migration_disk_copy = "{copy}"\n' if copy else ""))
    make_vg(a)
    make_vg(b, lvs=False)
    lv_guest(a, "mover")
    with agent(a.inst, "mover") as ga:
        rc, out, _ = ga.exec("test -b /dev/xvdb && head -c 4194304 /dev/urandom > /root/known && sync && "
                             "sha256sum /root/known")
        assert rc == 0
        sha = out.split()[0]
        ga.exec(WRITER)
    samples = []
    m = subprocess.Popen([str(DOMUS), "migrate", "--live", "mover", ADDR_B], env=a.inst.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while m.poll() is None:
        mig = domains(a.inst).get("mover", {}).get("migration")
        if mig:
            samples.append(mig)
        time.sleep(0.2)
    out, err = m.communicate()
    with open(a.inst.logdir / "migrate-progress.log", "w") as f:
        f.write(err + "\n" + "\n".join(map(str, samples)))
    assert m.returncode == 0, err
    assert "migration to 10.88.0.2 completed" in err and "disks: 56 MiB copied" in err, err
    # Progress was visible in `list -l` while it ran.
    assert any(s.get("disks", {}).get("total", 0) >= 56 << 20 for s in samples), samples
    assert "mover" not in domains(a.inst) and qemu_pids(a.inst) == []
    assert disk_servers(a.inst) == []
    assert domains(b.inst)["mover"]["state"] == "running"
    with agent(b.inst, "mover") as ga:
        rc, out, _ = ga.exec("sha256sum /root/known; cat /tmp/n")
        assert rc == 0 and out.split()[0] == sha, out
        n1 = int(out.split()[2])
        time.sleep(1)
        n2 = int(ga.exec("cat /tmp/n")[1])
        assert n2 > n1, "the writer stopped after the migration"
        ga.exec("touch /tmp/stop; sleep 0.5; sync")
    b.inst.run("destroy", "mover")
    # Everything the guest wrote on A is on B, and B carried on after it.
    src, dst = lv_bytes(a.inst, "vgm/data"), lv_bytes(b.inst, "vgm/data")
    ka, kb = records(src), records(dst)
    assert 0 < ka <= kb, (ka, kb)
    assert dst[:ka * REC] == src[:ka * REC]
    assert dst[kb * REC:] == src[kb * REC:]  # the random bytes nobody rewrote


def test_target_killed_mid_copy_local(hosts):  # noqa: F811
    a, b = hosts
    a.inst.run("daemon", "stop")
    conf = a.inst.root / "etc/domus/domus.conf"
    conf.write_text(conf.read_text() + "migration_bandwidth = 4\n")  # MiB/s: a slow copy
    a.start(conf.read_text())
    make_vg(a)
    make_vg(b, lvs=False)
    lv_guest(a, "victim")
    m = subprocess.Popen([str(DOMUS), "migrate", "--live", "victim", ADDR_B], env=a.inst.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    assert domains(a.inst)["victim"].get("migration", {}).get("phase") == "copying disks"
    os.kill(int((b.inst.root / "run/domus/domusd.pid").read_text()), 9)
    for qp in qemu_pids(b.inst):
        os.kill(qp, 9)
    out, err = m.communicate(timeout=120)
    assert m.returncode == 1, err
    dom = domains(a.inst)["victim"]
    assert dom["state"] == "running" and "migration" not in dom
    with agent(a.inst, "victim") as ga:
        rc, out, _ = ga.exec("echo still-here > /root/after && sync && cat /root/after")
        assert rc == 0 and out.strip() == "still-here"
        rc, _, _ = ga.exec("dd if=/dev/zero of=/dev/xvdb bs=4096 count=4 oflag=direct")
        assert rc == 0
    # The target, back up, has nothing left of it: no domain, no LV.
    p = b.sh("env", f"DOMUS_ROOT={b.inst.root}", DOMUS, "daemon", "start", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert domains(b.inst) == {}
    lvs = b.inst.run("lvs", "vgm").stdout
    assert "root" not in lvs and "data" not in lvs, lvs


def test_target_without_space_refuses(hosts):  # noqa: F811
    a, b = hosts
    make_vg(a)
    make_vg(b, size="48M", lvs=False)
    lv_guest(a, "big")
    p = a.inst.run("migrate", "--live", "big", ADDR_B, check=False, timeout=120)
    assert p.returncode == 1 and "not enough space in volume group vgm" in p.stderr, p.stderr
    assert domains(a.inst)["big"]["state"] == "running"
    assert domains(b.inst) == {} and qemu_pids(b.inst) == []
    lvs = b.inst.run("lvs", "vgm").stdout
    assert "root" not in lvs and "data" not in lvs, lvs
    with agent(a.inst, "big") as ga:
        assert ga.exec("echo ok > /root/t && sync")[0] == 0


def test_target_without_vg_or_with_an_unrelated_lv_refuses(hosts):  # noqa: F811
    a, b = hosts
    make_vg(a)
    lv_guest(a, "odd")
    p = a.inst.run("migrate", "--live", "odd", ADDR_B, check=False, timeout=120)
    assert p.returncode == 1 and "no volume group vgm here" in p.stderr, p.stderr
    make_vg(b, lvs=False)
    b.inst.run("lvcreate", "-L", "8M", "-n", "data", "vgm")
    p = a.inst.run("migrate", "--live", "odd", ADDR_B, check=False, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "an unrelated logical volume vgm/data exists here" in p.stderr, p.stderr
    # root was created for the copy before data was found taken: removed.
    lvs = b.inst.run("lvs", "vgm").stdout
    assert "root" not in lvs and "data" in lvs, lvs
    assert domains(a.inst)["odd"]["state"] == "running" and domains(b.inst) == {}


def test_non_live_migration_local_storage(hosts):  # noqa: F811
    """Without --live the disks are copied while the guest runs, then it is
    paused for the memory; it runs again on the target."""
    a, b = hosts
    make_vg(a)
    make_vg(b, lvs=False)
    lv_guest(a, "still")
    with agent(a.inst, "still") as ga:
        assert ga.exec("echo before > /root/mark && sync")[0] == 0
    p = a.inst.run("migrate", "still", ADDR_B, timeout=300)
    assert "disks: 56 MiB copied" in p.stderr, p.stderr
    assert "still" not in domains(a.inst)
    assert domains(b.inst)["still"]["state"] == "running"
    with agent(b.inst, "still") as ga:
        rc, out, _ = ga.exec("cat /root/mark && echo after > /root/mark && sync")
        assert rc == 0 and out.strip() == "before"


def test_shared_vg_is_not_copied(hosts):  # noqa: F811
    """Both hosts see the same PV (same VG UUID): the LVs are used in place."""
    a, b = hosts
    make_vg(a)
    b.inst.run("pvscan", a.inst.root / "pv-vgm.img")
    lv_guest(a, "inplace")
    with agent(a.inst, "inplace") as ga:
        assert ga.exec("echo shared > /root/mark && sync")[0] == 0
    p = a.inst.run("migrate", "--live", "inplace", ADDR_B, timeout=300)
    assert "completed" in p.stderr and "disks:" not in p.stderr, p.stderr
    assert domains(b.inst)["inplace"]["state"] == "running"
    with agent(b.inst, "inplace") as ga:
        rc, out, _ = ga.exec("cat /root/mark")
        assert rc == 0 and out.strip() == "shared"
    assert len(disk_servers(b.inst)) == 2


def test_local_storage_through_ssh_command(hosts, tmp_path):  # noqa: F811
    """migrate -s: the disk copies go through ssh commands too."""
    a, b = hosts
    make_vg(a)
    make_vg(b, lvs=False)
    lv_guest(a, "sshed")
    with agent(a.inst, "sshed") as ga:
        assert ga.exec("echo over-ssh > /root/mark && sync")[0] == 0
    p = a.inst.run("migrate", "--live", "-s", fake_ssh(tmp_path, b), "sshed", "b", timeout=300)
    assert "disks: 56 MiB copied" in p.stderr, p.stderr
    with agent(b.inst, "sshed") as ga:
        rc, out, _ = ga.exec("cat /root/mark")
        assert rc == 0 and out.strip() == "over-ssh", out
    b.inst.run("destroy", "sshed")
