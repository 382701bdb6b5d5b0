"""The seeds' LVM command lines, typed as the seeds type them."""
import subprocess


def test_seed_lvm_workflow(instance):
    pv = instance.root / "sdb.img"
    subprocess.run(["truncate", "-s", "8G", str(pv)], check=True)
    run = instance.run
    run("pvcreate", pv)
    # Seed 002 writes "vgcreate /dev/sdb vg0" (arguments swapped): refused clearly.
    p = run("vgcreate", pv, "vg0", check=False)
    assert p.returncode != 0 and "domus: error:" in p.stderr
    run("vgcreate", "vg0", pv)
    run("lvcreate", "-n", "dom1-disk", "-L", "6G", "vg0")
    run("lvcreate", "-n", "dom1-swap", "-L", "64M", "vg0")
    # seed 002's backup script
    run("lvcreate", "--size", "500M", "--snapshot", "--name", "ghost", "/dev/vg0/dom1-disk")
    lvs = run("lvs", "--noheadings", "-o", "lv_name,origin", "vg0").stdout.split()
    assert lvs == ["dom1-disk", "dom1-swap", "ghost", "dom1-disk"]
    run("lvremove", "--force", "/dev/vg0/ghost")
    # seed 000: lvextend -L size vgname/lvname; seed 003: lvcreate --snapshot ... -n
    run("lvextend", "-L", "+512M", "vg0/dom1-disk")
    run("lvcreate", "--snapshot", "-L", "100M", "-n", "lvsnap", "/dev/vg0/dom1-disk")
    run("lvremove", "-f", "vg0/lvsnap")
    out = run("lvs", "--noheadings", "--units", "m", "-o", "lv_name,lv_size", "vg0").stdout.split()
    assert out == ["dom1-disk", "6656.00m", "dom1-swap", "64.00m"]
    disp = run("pvdisplay", pv).stdout
    for label in ("PV Name", "VG Name", "PV Size", "Allocatable", "PE Size", "Total PE",
                  "Free PE", "Allocated PE", "PV UUID"):
        assert f"  {label}" in disp
    run("vgcfgbackup", "--file", instance.root / "vg0.backup", "vg0")
    assert (instance.root / "vg0.backup").read_text().count("dom1-swap") >= 1
