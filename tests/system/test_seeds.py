"""The seed documents' configs boot unchanged, once their kernel, ramdisk and
disk paths point at the guest kit and at existing files (the golden inputs
of the parser tests are those configs)."""
import re
import shutil
import subprocess

import pytest

from conftest import KIT, REPO, agent, domains, wait_ready

SEEDS = REPO / "tests/unit/golden/xlcfg"


def localize(instance, text, root_image=KIT["rootfs.img"]):
    """Point kernel/ramdisk at the kit and each disk target at a file: the
    root-looking disk gets a raw copy of the kit's rootfs, others a blank."""
    text = re.sub(r"^(kernel\s*=\s*)(['\"]).*?\2", rf"\g<1>'{KIT['vmlinuz']}'", text, flags=re.M)
    text = re.sub(r"^(ramdisk\s*=\s*)(['\"]).*?\2", rf"\g<1>'{KIT['initrd.img']}'", text,
                  flags=re.M)
    root = re.search(r"^root\s*=\s*['\"](\S+)", text, flags=re.M)
    root_dev = root.group(1).replace("/dev/", "") if root else None

    def disk(m):
        prefix, target, rest = m.group(1), m.group(2), m.group(3)
        vdev = rest.split(",")[1].split(":")[0].replace("/dev/", "")
        path = instance.root / (re.sub(r"\W", "_", target) + ".img")
        if vdev == root_dev:
            subprocess.run(["cp", "--sparse=always", str(root_image), str(path)], check=True)
        else:
            subprocess.run(["truncate", "-s", "64M", str(path)], check=True)
        return f"'{prefix}{path}{rest}'"

    return re.sub(r"'(phy:|file:)?(/dev/[^,']+)(,[^']*)'", disk, text)


def boot(instance, netns, seed, bridges, **kw):
    for br in bridges:
        netns.bridge(br)
    cfg = instance.root / f"{seed}.cfg"
    cfg.write_text(localize(instance, (SEEDS / f"{seed}.cfg").read_text(), **kw))
    instance.run("create", cfg)
    name = domains(instance).popitem()[0]
    wait_ready(instance, name, timeout=120)
    return name


def test_seed_002_dom1(instance, netns):
    """LEGI's dom1: swap on xvda1, root on xvda2, PV console hvc0, VLAN 73."""
    name = boot(instance, netns, "dom1", ["xenbr73"])
    with agent(instance, name) as ga:
        rc, out, _ = ga.exec("ls /dev/xvda1 /dev/xvda2 && cat /sys/class/net/eth0/address "
                             "&& awk '$2 == \"/\" {print $3}' /proc/mounts | tail -1 && nproc")
        assert rc == 0, out
        assert out.split() == ["/dev/xvda1", "/dev/xvda2", "00:16:3e:73:63:b5", "ext4", "2"]
    assert re.search(r"vif1\.0.*master xenbr73", netns.links())
    row = domains(instance)[name]
    assert row["mem_mb"] == 512 and row["vcpus"] == 2
    instance.run("shutdown", "-w", name, timeout=120)


def test_seed_002_multivlan(instance, netns):
    """Six vifs on six VLAN bridges, MACs in order."""
    name = boot(instance, netns, "dom1-multivlan", [f"xenbr{v}" for v in range(73, 79)])
    with agent(instance, name) as ga:
        rc, out, _ = ga.exec("for i in 0 1 2 3 4 5; do cat /sys/class/net/eth$i/address; done")
        assert rc == 0
        assert out.split() == [f"00:16:3e:{v}:63:b5" for v in range(73, 79)]
    instance.run("destroy", name)


def test_seed_003_virtualdebian(instance, netns):
    """2 GiB (4 GiB max) and two vCPUs, its disk as /dev/sda; its root is an LV
    inside the guest that the kit does not have, so the kit stays in its
    initramfs and still reports ready."""
    name = boot(instance, netns, "virtualdebian", ["xenbr0"])
    with agent(instance, name) as ga:
        rc, out, _ = ga.exec("test -b /dev/sda && nproc && cat /sys/class/net/eth0/address")
        assert rc == 0 and out.split() == ["2", "00:16:3e:00:00:01"], out
    row = domains(instance)[name]
    assert row["mem_mb"] == 2048 and row["maxmem_mb"] == 4096
    instance.run("destroy", name)


def test_seed_000_titanic(instance, netns):
    name = boot(instance, netns, "titanic", ["xenbr0", "xenbr1", "xenbr2"])
    with agent(instance, name) as ga:
        rc, out, _ = ga.exec("ls /dev/hda1 /dev/hda2")
        assert rc == 0, out
    instance.run("destroy", name)


def grub_disk(instance):
    """The kit's root filesystem with the kernel and initrd in /boot and a
    GRUB 2 menu naming them, as a Debian guest installed with
    xen-create-image --pygrub has."""
    tree = instance.root / "grubtree"
    tree.mkdir()
    subprocess.run(["debugfs", "-R", f"rdump / {tree}", str(KIT["rootfs.img"])], check=True,
                   capture_output=True)
    boot_dir = tree / "boot"
    (boot_dir / "grub").mkdir(parents=True, exist_ok=True)
    shutil.copy(KIT["vmlinuz"], boot_dir / "vmlinuz-6.1-kit")
    shutil.copy(KIT["initrd.img"], boot_dir / "initrd.img-6.1-kit")
    (boot_dir / "grub/grub.cfg").write_text(
        "set default=0\nset timeout=5\n"
        "menuentry 'Debian GNU/Linux, kit' {\n"
        "\tlinux /boot/vmlinuz-6.1-kit domus.hostname=from-grub\n"
        "\tinitrd /boot/initrd.img-6.1-kit\n}\n")
    img = instance.root / "grub-root.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(img), "64M"], check=True)
    return img


def test_seed_001_origami_pygrub(instance, netns):
    """xen-create-image --pygrub: the kernel lives inside the guest's disk."""
    name = boot(instance, netns, "origami", ["xenbr0"], root_image=grub_disk(instance))
    with agent(instance, name) as ga:
        rc, out, _ = ga.exec("hostname; cat /proc/cmdline; cat /sys/class/net/eth0/address")
        assert rc == 0, out
        lines = out.split("\n")
        assert lines[0] == "from-grub"
        assert "root=/dev/xvda2" in lines[1]
        assert lines[2] == "00:16:3e:78:20:21"
    assert "bootloader found kernel 'Debian GNU/Linux, kit'" in instance.run("dmesg").stdout
    instance.run("destroy", name)
