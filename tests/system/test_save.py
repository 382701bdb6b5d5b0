"""domus save / restore: memory and devices survive, bad files are refused."""
import re
import time

from conftest import agent, domains, pv_cfg, qemu_pids, wait_ready

COUNTER = ("i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done "
           ">/dev/null 2>&1 &")
PATTERN = "head -c 4194304 /dev/urandom > /tmp/pattern && sha256sum /tmp/pattern"


def guest_state(ga):
    rc, out, _ = ga.exec("sha256sum /tmp/pattern; cat /tmp/counter; cut -d' ' -f1 /proc/uptime")
    assert rc == 0, out
    sha, counter, uptime = out.split()[0], int(out.split()[2]), float(out.split()[3])
    return sha, counter, uptime


def test_save_restore_round_trip(instance):
    instance.run("create", pv_cfg(instance, "saver", memory=256))
    wait_ready(instance, "saver")
    with agent(instance, "saver") as ga:
        rc, out, _ = ga.exec(PATTERN)
        assert rc == 0
        sha0 = out.split()[0]
        ga.exec(COUNTER)
        time.sleep(1)
        _, c0, up0 = guest_state(ga)
    save = instance.root / "saver.save"
    instance.run("save", "saver", save, timeout=300)
    assert "saver" not in domains(instance)
    assert qemu_pids(instance) == []
    assert save.stat().st_size > 4 << 20
    p = instance.run("restore", save, timeout=300)
    assert re.search(r"Restored domain saver \(id=\d+\)", p.stderr)
    assert domains(instance)["saver"]["state"] == "running"
    with agent(instance, "saver") as ga:
        sha1, c1, up1 = guest_state(ga)
        assert sha1 == sha0            # memory came back
        assert c1 >= c0                # the counter did not restart
        assert up1 >= up0              # nor did the guest's clock
        time.sleep(1)
        _, c2, _ = guest_state(ga)
        assert c2 > c1                 # and it keeps counting
    instance.run("destroy", "saver")


def test_save_leave_running_and_paused(instance):
    instance.run("create", pv_cfg(instance, "keeper"))
    wait_ready(instance, "keeper")
    instance.run("save", "-c", "keeper", instance.root / "k1.save", timeout=300)
    assert domains(instance)["keeper"]["state"] == "running"
    instance.run("save", "-p", "keeper", instance.root / "k2.save", timeout=300)
    assert domains(instance)["keeper"]["state"] == "paused"
    # A saved domain of that name is still running: restore refuses.
    p = instance.run("restore", instance.root / "k1.save", check=False)
    assert p.returncode == 1 and "already exists" in p.stderr
    instance.run("destroy", "keeper")
    instance.run("restore", "-p", instance.root / "k2.save", timeout=300)
    assert domains(instance)["keeper"]["state"] == "paused"
    instance.run("unpause", "keeper")
    with agent(instance, "keeper") as ga:
        assert ga.exec("true")[0] == 0
    instance.run("destroy", "keeper")


def test_bad_save_files_are_refused(instance):
    instance.run("create", pv_cfg(instance, "victim"))
    wait_ready(instance, "victim")
    good = instance.root / "good.save"
    instance.run("save", "victim", good, timeout=300)
    data = good.read_bytes()
    cases = {
        "foreign": (b"#!/bin/sh\necho not a save file\n", "not a Domus save file"),
        "truncated": (data[: len(data) // 2], "truncated"),
        "corrupted": (data[:5000] + bytes([data[5000] ^ 0xFF]) + data[5001:], "corrupted"),
        "empty": (b"", "not a Domus save file"),
    }
    for name, (content, message) in cases.items():
        bad = instance.root / f"{name}.save"
        bad.write_bytes(content)
        p = instance.run("restore", bad, check=False)
        assert p.returncode == 1, name
        assert message in p.stderr, (name, p.stderr)
        assert domains(instance) == {}
        assert qemu_pids(instance) == []
    missing = instance.run("restore", instance.root / "nope.save", check=False)
    assert missing.returncode == 1 and "nope.save" in missing.stderr
