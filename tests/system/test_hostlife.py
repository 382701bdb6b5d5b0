"""Host stop and start (xendomains): running domains are saved at host stop
and restored at the next host start; VMs linked in etc/domus/auto/ start."""
import shutil
import time

import pytest

from conftest import agent, domains, pv_cfg, qemu_pids, wait_for, wait_ready


def reboot_host(instance):
    """What a host reboot does to an instance: the daemon goes away and
    run/ (a tmpfs on a real host) is emptied."""
    instance.run("daemon", "stop")
    assert qemu_pids(instance) == []
    shutil.rmtree(instance.root / "run")


def test_host_stop_saves_and_start_restores(instance):
    instance.run("create", pv_cfg(instance, "web"))
    instance.run("create", pv_cfg(instance, "dns"))
    auto_cfg = pv_cfg(instance, "git")
    (instance.root / "etc/domus/auto").mkdir(parents=True, exist_ok=True)
    (instance.root / "etc/domus/auto/git.cfg").symlink_to(auto_cfg)
    for name in ("web", "dns"):
        wait_ready(instance, name)
    with agent(instance, "web") as ga:
        ga.exec("echo remember-me > /tmp/mark")  # /tmp is RAM in the kit
    instance.run("host-stop", timeout=600)
    assert domains(instance) == {}
    saved = sorted(p.name for p in (instance.root / "var/lib/domus/save").iterdir())
    assert saved == ["dns.save", "web.save"]

    reboot_host(instance)
    listing = domains(instance)  # the first command starts the daemon
    assert sorted(listing) == ["dns", "git", "web"]
    assert all(d["state"] == "running" for d in listing.values())
    assert list((instance.root / "var/lib/domus/save").iterdir()) == []
    with agent(instance, "web") as ga:
        rc, out, _ = ga.exec("cat /tmp/mark")
        assert rc == 0 and out.strip() == "remember-me"
    wait_ready(instance, "git")
    # A daemon restart (not a host start) starts nothing again.
    instance.run("destroy", "git")
    instance.run("daemon", "stop")
    assert "git" not in domains(instance)
    instance.run("destroy", "web")
    instance.run("destroy", "dns")


def test_host_stop_shutdown_mode(instance):
    conf = instance.root / "etc/domus/domus.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text('on_host_stop = "shutdown"\nhost_stop_timeout = 60\n')
    instance.run("create", pv_cfg(instance, "quiet"))
    wait_ready(instance, "quiet")
    instance.run("host-stop", timeout=300)
    assert domains(instance) == {}
    assert "guest powered off; action destroy" in instance.run("dmesg").stdout
    save_dir = instance.root / "var/lib/domus/save"
    assert not save_dir.exists() or list(save_dir.iterdir()) == []


def test_unrestorable_save_file_is_kept(instance):
    save_dir = instance.root / "var/lib/domus/save"
    save_dir.mkdir(parents=True)
    (save_dir / "broken.save").write_bytes(b"DOMUSSAV garbage")
    assert domains(instance) == {}
    assert (save_dir / "broken.save").exists()
    assert "cannot restore" in instance.run("dmesg").stdout


@pytest.mark.parametrize("text,message", [
    ('on_host_stop = "hibernate"\n', 'on_host_stop must be "save", "migrate" or "shutdown"'),
    ('on_host_stop = "migrate"\n', 'needs host_stop_migrate_to = "HOST[:PORT]"'),
    ('host_stop_migrate_to = 8002\n', "'host_stop_migrate_to' must be a string"),
    ('migration_stream = "tunnel"\n', 'migration_stream must be "direct" or "relayed"'),
    ('migration_disk_copy = 1\n', 'migration_disk_copy must be "background" or "write-blocking"'),
    ('migration_stream_buffer_kib = 2000000\n', 'migration_stream_buffer_kib must be a number of KiB'),
    ('migration_stream_buffer_kib = "256"\n', 'migration_stream_buffer_kib must be a number of KiB'),
    ('migration_incoming_priority = 21\n', 'migration_incoming_priority must be a number from 0 to 20'),
    ('qemu_heap_hugetlb = "on"\n', 'qemu_heap_hugetlb must be "auto" or "off"'),
])
def test_bad_host_stop_settings_are_refused(instance, text, message):
    conf = instance.root / "etc/domus/domus.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    p = instance.run("daemon", "start", check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr
