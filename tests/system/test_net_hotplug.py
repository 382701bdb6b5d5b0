"""NIC hot plug: network-attach adds a NIC to a running guest (q35: into an
empty PCIe root port) that carries traffic at once, network-list shows it
in xl's columns, network-detach removes it from the guest and the host
(tap, OVS port and flows). A q35 guest's boot-time NICs sit on root ports
of their own: they detach too, and their MAC can come back by
network-attach."""
import re

from conftest import agent, domains, pv_cfg, wait_for, wait_ready
from netkit import ovs_netns  # noqa: F401 (fixture)


def guest_macs(ga):
    rc, out, _ = ga.exec("cat /sys/class/net/eth*/address")
    assert rc == 0
    return out.split()


def nic_rows_of(text):
    """network-list's Idx and Mac columns."""
    return [line.split()[0:3:2] for line in text.splitlines()[1:]]


def nic_rows(instance, name):
    return nic_rows_of(instance.run("network-list", name).stdout)


def test_attach_and_detach(instance, ovs_netns):
    ns = ovs_netns
    ns.bridge("xenbr0", "10.77.0.1/24")
    ns.ovs_bridge("ovsbr")
    ns.internal_port("ovsbr", "h72", "10.72.0.1/24", tag=72)
    cfg = pv_cfg(instance, "plug", extra="domus.net0=10.77.0.2/24",
                 more="vif = [ 'mac=00:16:3e:10:00:01, bridge=xenbr0' ]")
    instance.run("create", cfg)
    wait_ready(instance, "plug")
    domid = domains(instance)["plug"]["domid"]
    instance.run("network-attach", "plug", "mac=00:16:3e:10:00:02", "bridge=ovsbr.72",
                 "ip=10.72.0.2")
    out = instance.run("network-list", "plug").stdout
    assert out.splitlines()[0].split()[:4] == ["Idx", "BE", "Mac", "Addr."]
    assert re.search(r"^1\s+0\s+00:16:3e:10:00:02\s+1\s+4\s+-1\s+-1/-1\s+"
                     r"/local/domain/0/backend/vif/plug/1$", out, re.M), out
    assert ns.vsctl("get", "port", f"vif{domid}.1", "tag").stdout.strip() == "72"
    with agent(instance, "plug") as ga:
        wait_for(lambda: "00:16:3e:10:00:02" in guest_macs(ga), 30, "the NIC in the guest")
        rc, out, _ = ga.exec("for i in /sys/class/net/eth*; do "
                             "[ $(cat $i/address) = 00:16:3e:10:00:02 ] && basename $i; done")
        eth = out.strip()
        assert ga.exec(f"ip addr add 10.72.0.2/24 dev {eth} && ip link set {eth} up")[0] == 0
        assert ga.exec("ping -c 2 -W 3 10.72.0.1", timeout=30)[0] == 0
    # refused before anything is created
    for args, msg in ((["mac=00:16:3e:10:00:01", "bridge=xenbr0"], "already used"),
                      (["bridge=nosuch"], "does not exist"),
                      (["bridge=ovsbr.5000"], "1 to 4094"),
                      (["bridge=xenbr0", "vifname=xenbr0"], "already exists")):
        p = instance.run("network-attach", "plug", *args, check=False)
        assert p.returncode != 0 and msg in p.stderr, (args, p.stderr)
    instance.run("network-detach", "plug", "00:16:3e:10:00:02", timeout=60)
    with agent(instance, "plug") as ga:
        wait_for(lambda: "00:16:3e:10:00:02" not in guest_macs(ga), 30, "the NIC to go")
        assert ga.exec("ping -c 1 -W 3 10.77.0.1", timeout=30)[0] == 0
    assert f"vif{domid}.1" not in ns.links()
    assert ns.vsctl("list-ports", "ovsbr").stdout.split() == ["h72"]
    assert "nw_src" not in ns.flows("ovsbr")
    assert "00:16:3e:10:00:02" not in instance.run("network-list", "plug").stdout
    # a second attach reuses the freed slot and the next device id
    instance.run("network-attach", "plug", "bridge=xenbr0")
    assert re.search(r"^1\s", instance.run("network-list", "plug").stdout, re.M)
    # A save carries the NICs as they are; not with another config.
    p = instance.run("save", "plug", instance.root / "plug.save", cfg, check=False)
    assert p.returncode != 0 and "cannot take another config" in p.stderr, p.stderr
    assert not (instance.root / "plug.save").exists()
    before = instance.run("network-list", "plug").stdout
    instance.run("save", "plug", instance.root / "plug.save", timeout=120)
    instance.run("restore", instance.root / "plug.save", timeout=120)
    assert nic_rows(instance, "plug") == nic_rows_of(before)
    with agent(instance, "plug") as ga:
        assert ga.exec("ping -c 1 -W 3 10.77.0.1", timeout=30)[0] == 0
    # and it detaches there as anywhere
    instance.run("network-detach", "plug", "1", timeout=60)
    assert [r[0] for r in nic_rows(instance, "plug")] == ["0"]



def test_detach_boot_nic(instance, netns):
    """Boot-time vif 0 of a q35 guest leaves the guest and the host, the
    guest's second NIC keeps working, and the same MAC re-attached carries
    traffic again."""
    netns.bridge("xenbr0", "10.77.0.1/24")
    netns.bridge("xenbr1", "10.78.0.1/24")
    cfg = pv_cfg(instance, "boot", extra="domus.net0=10.77.0.2/24",
                 more="vif = [ 'mac=00:16:3e:10:00:01, bridge=xenbr0', "
                      "'mac=00:16:3e:10:00:03, bridge=xenbr1' ]")
    instance.run("create", cfg)
    wait_ready(instance, "boot")
    domid = domains(instance)["boot"]["domid"]
    with agent(instance, "boot") as ga:
        assert ga.exec("ping -c 1 -W 3 10.77.0.1", timeout=30)[0] == 0
        assert ga.exec("ip addr add 10.78.0.2/24 dev eth1 && ip link set eth1 up")[0] == 0
    instance.run("network-detach", "boot", "0", timeout=60)
    with agent(instance, "boot") as ga:
        wait_for(lambda: "00:16:3e:10:00:01" not in guest_macs(ga), 30, "boot NIC to go")
        assert ga.exec("ping -c 2 -W 3 10.78.0.1", timeout=30)[0] == 0, "second NIC broken"
    assert f"vif{domid}.0" not in netns.links()
    assert "00:16:3e:10:00:01" not in instance.run("network-list", "boot").stdout
    instance.run("network-attach", "boot", "mac=00:16:3e:10:00:01", "bridge=xenbr0")
    assert re.search(r"^2\s+0\s+00:16:3e:10:00:01\s", instance.run("network-list", "boot").stdout,
                     re.M)
    with agent(instance, "boot") as ga:
        wait_for(lambda: "00:16:3e:10:00:01" in guest_macs(ga), 30, "the NIC back in the guest")
        rc, out, _ = ga.exec("for i in /sys/class/net/eth*; do "
                             "[ $(cat $i/address) = 00:16:3e:10:00:01 ] && basename $i; done")
        eth = out.strip()
        assert ga.exec(f"ip addr add 10.77.0.2/24 dev {eth} && ip link set {eth} up")[0] == 0
        assert ga.exec("ping -c 2 -W 3 10.77.0.1", timeout=30)[0] == 0, "re-attached NIC dead"
    # Save and restore bring back the NICs as they are: boot NIC 0 gone
    # (its port empty), NIC 1 on its boot port, NIC 2 on a hot-plug port,
    # both carrying traffic with the addresses the guest gave them.
    rows = nic_rows(instance, "boot")
    assert rows == [["1", "00:16:3e:10:00:03"], ["2", "00:16:3e:10:00:01"]], rows
    instance.run("save", "boot", instance.root / "boot.save", timeout=120)
    assert "boot" not in domains(instance)
    instance.run("restore", instance.root / "boot.save", timeout=120)
    assert nic_rows(instance, "boot") == rows
    domid = domains(instance)["boot"]["domid"]
    links = netns.links()
    assert f"vif{domid}.1:" in links and f"vif{domid}.2:" in links, links
    assert f"vif{domid}.0:" not in links
    with agent(instance, "boot") as ga:
        assert ga.exec("ping -c 2 -W 3 10.77.0.1", timeout=30)[0] == 0
        assert ga.exec("ping -c 2 -W 3 10.78.0.1", timeout=30)[0] == 0
    # the restored domain's NICs come and go as before
    instance.run("network-detach", "boot", "2", timeout=60)
    instance.run("network-attach", "boot", "bridge=xenbr0")
    assert [r[0] for r in nic_rows(instance, "boot")] == ["1", "2"]
