"""Bad input: each refused with one clear message naming the file and the
problem, and nothing left half-started (no QEMU, no tap, no state)."""
import re
import subprocess

import pytest

from conftest import KIT, domains, pv_cfg, qemu_pids, write_cfg


def assert_nothing_started(instance):
    assert domains(instance) == {}
    assert qemu_pids(instance) == []
    dom_dir = instance.root / "run/domus/dom"
    assert not dom_dir.exists() or not any(dom_dir.iterdir())
    taps = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert not re.search(r"\bvif\d+\.\d+\b", taps)


def refused(instance, *args):
    p = instance.run("create", *args, check=False)
    assert p.returncode == 1, p.stdout + p.stderr
    errors = [l for l in p.stderr.splitlines() if l.startswith("domus: error:")]
    assert len(errors) == 1, p.stderr
    assert_nothing_started(instance)
    return errors[0]


def test_syntax_error_names_file_line_col(instance):
    cfg = write_cfg(instance, "syntax", 'name = "x"\nmemory = = 3\n')
    msg = refused(instance, cfg)
    assert f"{cfg}:2:" in msg


def test_python_looking_config(instance):
    cfg = write_cfg(instance, "py", 'import os\nname = "x"\n')
    msg = refused(instance, cfg)
    assert "Python" in msg


def test_missing_kernel(instance):
    cfg = write_cfg(instance, "nokernel", 'name = "nokernel"\nmemory = 64\n')
    assert "kernel" in refused(instance, cfg)
    cfg = write_cfg(instance, "badkernel",
                    'name = "badkernel"\nkernel = "/nonexistent/vmlinuz"\n')
    assert "/nonexistent/vmlinuz" in refused(instance, cfg)


def test_impossible_memory(instance):
    cfg = pv_cfg(instance, "huge", memory=64 * 1024 * 1024)
    assert "memory" in refused(instance, cfg)
    cfg = pv_cfg(instance, "tiny", memory=1)
    assert "memory" in refused(instance, cfg)


def test_missing_disk(instance):
    cfg = pv_cfg(instance, "nodisk", disks=["'phy:/dev/vg0/nothing-here,xvda2,w'"])
    msg = refused(instance, cfg)
    assert "/dev/vg0/nothing-here" in msg and "xvda2" in msg


def test_missing_bridge(instance):
    cfg = pv_cfg(instance, "nobridge", more="vif = [ 'bridge=nosuchbr0' ]")
    assert "bridge 'nosuchbr0' does not exist" in refused(instance, cfg)


def test_bad_override(instance):
    cfg = pv_cfg(instance, "ovr")
    msg = refused(instance, cfg, "memory=[")
    assert "memory" in msg


def test_duplicate_name(instance):
    cfg = pv_cfg(instance, "dup")
    instance.run("create", "-p", cfg)
    p = instance.run("create", cfg, check=False)
    assert p.returncode == 1
    assert "a domain called 'dup' already exists" in p.stderr
    assert list(domains(instance)) == ["dup"]
    assert len(qemu_pids(instance)) == 1
    instance.run("destroy", "dup")
    assert_nothing_started(instance)


def test_unknown_key_is_a_warning(instance):
    cfg = pv_cfg(instance, "warn", more="frobnicate = 1")
    p = instance.run("create", "-p", cfg)
    assert "frobnicate" in p.stderr and "warning" in p.stderr
    instance.run("destroy", "warn")


def test_unknown_domain(instance):
    for verb in ("destroy", "pause", "unpause", "shutdown", "console"):
        p = instance.run(verb, "ghost", check=False)
        assert p.returncode == 1
        assert "domain 'ghost' does not exist" in p.stderr
