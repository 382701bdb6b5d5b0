#!/usr/bin/env bash
# bench/boot.sh - what Domus adds to a boot, and how fast `domus list` is.
#
# 1. Boot time: from the start of `domus create` to DOMUS-GUEST-READY on the
#    console, against the same kernel, initrd and disk booted by a
#    hand-written QEMU command line, alternating runs in one session.
#    Target: Domus adds under 5%.
# 2. `domus list` latency with 20 domains running. Target: under 20 ms.
#
# Usage: bench/boot.sh [RUNS] (default 5). Needs `make` and `make guest`.
set -euo pipefail

runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
build=${DOMUS_BUILD:-$here/build}
kit=$build/guest
domus=$build/domus
work=$(mktemp -d /tmp/domus-bench-XXXXXX)
export DOMUS_ROOT=$work/root
qemu_pid=
trap '"$domus" daemon stop --destroy-all >/dev/null 2>&1 || true; [ -n "$qemu_pid" ] && kill $qemu_pid 2>/dev/null; rm -rf "$work"' EXIT

accel=tcg
grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && accel=kvm

# Wait until FILE contains the READY line; print the elapsed seconds since T0.
wait_ready() {
	local file=$1 t0=$2
	for _ in $(seq 36000); do
		if grep -qa DOMUS-GUEST-READY "$file" 2>/dev/null; then
			python3 -c "import time; print(f'{time.time() - $t0:.3f}')"
			return 0
		fi
		sleep 0.005
	done
	echo "bench: no READY in $file" >&2
	return 1
}

now() { python3 -c 'import time; print(time.time())'; }

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

boot_qemu() {
	local disk=$work/hand.qcow2 log=$work/hand.log t0
	qemu-img create -q -f qcow2 -b "$kit/rootfs.img" -F raw "$disk"
	rm -f "$log"
	t0=$(now)
	qemu-system-x86_64 -machine q35,accel=$accel -cpu max -m 128 -smp 1 -nodefaults \
		-no-user-config -display none -kernel "$kit/vmlinuz" -initrd "$kit/initrd.img" \
		-append "console=ttyS0 root=/dev/xvda2 ro" \
		-drive "file=$disk,if=none,id=d0,format=qcow2" \
		-device virtio-blk-pci,drive=d0,serial=xvda2 \
		-serial "file:$log" &
	qemu_pid=$!
	wait_ready "$log" "$t0"
	kill $qemu_pid; wait $qemu_pid 2>/dev/null || true
	qemu_pid=
}

boot_domus() {
	local disk=$work/domus.qcow2 cfg=$work/bench.cfg t0
	local log=$DOMUS_ROOT/var/log/domus/console/guest-bench.log
	qemu-img create -q -f qcow2 -b "$kit/rootfs.img" -F raw "$disk"
	cat > "$cfg" <<CFG
name = "bench"
kernel = "$kit/vmlinuz"
ramdisk = "$kit/initrd.img"
memory = 128
root = "/dev/xvda2 ro"
disk = [ '$disk,qcow2,xvda2,w' ]
CFG
	rm -f "$log"
	t0=$(now)
	"$domus" create -q "$cfg"
	wait_ready "$log" "$t0"
	"$domus" destroy bench
}

"$domus" daemon start
boot_domus >/dev/null  # warm the page cache for both
: > "$work/q.txt"; : > "$work/d.txt"
for i in $(seq "$runs"); do
	boot_qemu >> "$work/q.txt"
	boot_domus >> "$work/d.txt"
done
q=$(median < "$work/q.txt")
d=$(median < "$work/d.txt")
echo "boot to READY ($accel, median of $runs): hand-written QEMU ${q}s, domus create ${d}s"
python3 -c "print(f'boot ratio domus/qemu: {$d/$q:.3f} (target < 1.05)')"

# --- list latency with 20 domains running ---
for i in $(seq 20); do
	qemu-img create -q -f qcow2 -b "$kit/rootfs.img" -F raw "$work/l$i.qcow2"
	cat > "$work/l$i.cfg" <<CFG
name = "list$i"
kernel = "$kit/vmlinuz"
ramdisk = "$kit/initrd.img"
memory = 96
root = "/dev/xvda2 ro"
disk = [ '$work/l$i.qcow2,qcow2,xvda2,w' ]
CFG
	# One at a time: 20 TCG guests booting at once would take minutes.
	"$domus" create -q "$work/l$i.cfg"
	wait_ready "$DOMUS_ROOT/var/log/domus/console/guest-list$i.log" "$(now)" >/dev/null
done
[ "$("$domus" list | wc -l)" -eq 22 ]
python3 - "$domus" <<'PY'
import subprocess, sys, time
samples = []
for _ in range(50):
    t0 = time.perf_counter()
    subprocess.run([sys.argv[1], "list"], stdout=subprocess.DEVNULL, check=True)
    samples.append((time.perf_counter() - t0) * 1000)
samples.sort()
print(f"domus list with 20 domains: median {samples[25]:.1f} ms, p90 {samples[45]:.1f} ms "
      f"(target < 20 ms)")
PY
