#!/usr/bin/env bash
# demo.sh BUILD_DIR - boot a demo domain on a private instance and show it.
#
# The instance lives under BUILD_DIR/demo (etc/, var/, run/ as on a host).
# The guest is the guest kit booted as a PV domain with its root disk on a
# logical volume: VG "demo" on a sparse file under the instance root, LV
# "root" refilled with the kit's root filesystem over NBD at each run. It
# keeps running afterwards: the script prints how
# to reach its console and how to stop it.
set -euo pipefail

build=${1:?usage: demo.sh BUILD_DIR}
root=$build/demo
domus=$build/domus
kit=$build/guest
export DOMUS_ROOT=$root

mkdir -p "$root/etc/domus" "$root/var/lib/domus/images"
"$domus" daemon stop --destroy-all >/dev/null 2>&1 || true

pv=$root/var/lib/domus/images/demo-pv.img
if ! "$domus" vgs demo >/dev/null 2>&1; then
	truncate -s 1G "$pv"
	"$domus" vgcreate demo "$pv"
fi
"$domus" lvs demo/root >/dev/null 2>&1 || "$domus" lvcreate -L 64M -n root demo
sock=$root/run/demo-fill.sock
"$domus" nbd-serve demo/root --unix "$sock" 2>/dev/null &
server=$!
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done
qemu-img convert -n -f raw -O raw "$kit/rootfs.img" "nbd+unix:///?socket=$sock"
kill "$server"
wait "$server" || true

# The demo's default network: a NAT network (bridge, DHCP/DNS by dnsmasq,
# masquerade), created once and kept by the instance like any other.
net=demonat
if ! "$domus" network-list | grep -q "^$net "; then
	echo "== domus network-create $net --nat 10.213.47.0/24"
	"$domus" network-create "$net" --nat 10.213.47.0/24
fi

cfg=$root/etc/domus/demo.cfg
cat > "$cfg" <<CFG
# A Domus demo domain: the guest kit as a Xen-style PV domain.
name    = "demo"
kernel  = "$kit/vmlinuz"
ramdisk = "$kit/initrd.img"
memory  = 128
vcpus   = 1
root    = "/dev/xvda2 ro"
extra   = "domus.hostname=demo domus.net0=dhcp"
disk    = [ 'phy:/dev/demo/root,xvda2,w' ]
vif     = [ 'bridge=$net' ]
on_reboot = 'restart'
CFG

log=$root/var/log/domus/console/guest-demo.log
rm -f "$log"  # the console log is appended to: start this run's afresh

echo "== domus create $cfg"
"$domus" create "$cfg"

for _ in $(seq 600); do
	grep -q DOMUS-GUEST-READY "$log" 2>/dev/null && break
	sleep 0.1
done
echo
echo "== domus list"
"$domus" list
echo
echo "== domus network-list"
"$domus" network-list
echo
echo "== the demo's console (last lines of $log)"
grep -a -v '^\s*$' "$log" | tail -n 12
echo
echo "== the host answers the demo on its network (ping from the host to its lease)"
lease=$(awk '{print $3; exit}' "$root/var/lib/domus/net/$net.leases" 2>/dev/null || true)
if [ -n "$lease" ] && ping -c 2 -W 2 "$lease" >/dev/null; then
	echo "demo has $lease and answers"
else
	echo "demo: no DHCP lease answered on $net" >&2
	exit 1
fi
echo
if ! grep -q DOMUS-GUEST-READY "$log"; then
	echo "demo: the guest did not become ready within 60 s" >&2
	exit 1
fi
cat <<EOF2
The demo domain is running. Try:
  DOMUS_ROOT=$root $domus console demo      (Ctrl-] to detach)
  DOMUS_ROOT=$root $domus shutdown -w demo
  DOMUS_ROOT=$root $domus network-destroy $net   (removes the demo's network)
EOF2
