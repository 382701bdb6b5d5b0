"""Host settings and host-side views: domus.conf, accelerator choice, info,
dmesg, VNC displays, the daemon's lifecycle."""
import re
import socket
import subprocess

from conftest import DOMUSD, KIT, overlay, pv_cfg, write_cfg


def has_hw_virt():
    flags = open("/proc/cpuinfo").read()
    return bool(re.search(r"\b(vmx|svm)\b", flags))


def test_accelerator_auto_and_forced(instance):
    info = dict(l.split(":", 1) for l in instance.run("info").stdout.splitlines())
    info = {k.strip(): v.strip() for k, v in info.items()}
    assert info["accel_setting"] == "auto"
    assert info["accel"] == ("kvm" if has_hw_virt() else "tcg")
    assert int(info["nr_cpus"]) >= 1 and int(info["total_memory"]) > 0
    instance.run("daemon", "stop")
    (instance.root / "etc/domus/domus.conf").write_text('accel = "tcg"\n')
    info = instance.run("info").stdout
    assert re.search(r"^accel +: tcg$", info, re.M)
    assert re.search(r"^accel_setting +: tcg$", info, re.M)


def test_bad_domus_conf_is_refused(instance):
    conf = instance.root / "etc/domus/domus.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text('accel = "warp"\n')
    p = instance.run("daemon", "start", check=False)
    assert p.returncode == 1
    assert "accel must be" in p.stderr and "'warp'" in p.stderr
    conf.write_text("accel = = 1\n")
    p = instance.run("list", check=False)
    assert p.returncode == 1 and f"{conf}:1:" in p.stderr
    assert instance.run("daemon", "status", check=False).returncode == 3


def test_daemon_refuses_a_second_instance(instance):
    instance.run("daemon", "start")
    p = subprocess.run([str(DOMUSD), "--root", str(instance.root)], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "another domusd runs" in p.stderr


def test_dmesg_shows_the_daemon_log(instance):
    instance.run("create", "-p", pv_cfg(instance, "logged"))
    out = instance.run("dmesg").stdout
    assert "domusd" in out and "domain logged (1) created" in out
    instance.run("destroy", "logged")
    instance.run("dmesg", "-c")
    assert "created" not in instance.run("dmesg").stdout


def test_vnc_display_and_cdrom(instance):
    """vnc = 1 gives a VNC server on 127.0.0.1:5900+vncdisplay; an empty
    cdrom drive is accepted."""
    disk = overlay(instance, "vnc", base=KIT["hvm.img"])
    cfg = write_cfg(instance, "vnc", f"""
builder = 'hvm'
name = 'vnc'
memory = 128
disk = [ '{disk},qcow2,hda,w', ',raw,hdc:cdrom,r' ]
vnc = 1
vnclisten = '127.0.0.1'
vncdisplay = 17
""")
    instance.run("create", "-p", cfg)
    s = socket.create_connection(("127.0.0.1", 5917), timeout=10)
    assert s.recv(12).startswith(b"RFB ")
    s.close()
    instance.run("destroy", "vnc")
