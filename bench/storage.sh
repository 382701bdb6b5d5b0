#!/bin/sh
# bench/storage.sh - volume manager benchmark (issue 3).
#
#  1. Latency of `lvcreate` and `lvs` on a VG holding $NLV (1000) LVs, Domus
#     against lvm2 in metadata-only mode on the same VG in the same run
#     (the VG lives on a loop device so both can use it).
#  2. Origin write throughput through the LV data API with no snapshot and
#     with one classic snapshot (first writes copy every chunk out), as a
#     ratio, for 4 KiB and 64 KiB chunks.
#
# Usage: bench/storage.sh   (root; BUILD=build NLV=1000 MIB=256 RUNS=5)
set -eu

BUILD=${BUILD:-build}
NLV=${NLV:-1000}
MIB=${MIB:-256}
RUNS=${RUNS:-5}
DOMUS=$(realpath "$BUILD/domus")
IO=$(realpath "$BUILD/src/storage/domus-storage-bench")
WORK=$(mktemp -d /tmp/domus-bench-XXXXXX)
LOOP=

cleanup() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

export DOMUS_ROOT="$WORK/root"
mkdir -p "$DOMUS_ROOT"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Mean wall time in ms of RUNS runs of "$@" (%d in args = run number).
time_ms() {
	total=0
	i=0
	while [ $i -lt "$RUNS" ]; do
		args=$(printf '%s\n' "$@" | sed "s/%d/$i/g" | tr '\n' ' ')
		t0=$(now_ms)
		# shellcheck disable=SC2086
		$args >/dev/null 2>&1 || { echo "failed: $args" >&2; exit 1; }
		total=$(( total + $(now_ms) - t0 ))
		i=$(( i + 1 ))
	done
	echo $(( total / RUNS ))
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

echo "== metadata: $NLV LVs"
truncate -s 16G "$WORK/pv.img"
LOOP=$(losetup -f --show "$WORK/pv.img")
mkdir -p "$WORK/lvm/lock"
cat > "$WORK/lvm/lvm.conf" <<CONF
devices { obtain_device_list_from_udev = 0 use_devicesfile = 0 global_filter = [ "a|^$LOOP\$|", "r|.*|" ] }
global { locking_dir = "$WORK/lvm/lock" event_activation = 0 }
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
backup { backup = 0 archive = 0 }
CONF
export LVM_SYSTEM_DIR="$WORK/lvm" LVM_SUPPRESS_FD_WARNINGS=1

"$DOMUS" pvcreate --metadatasize 8m "$LOOP" >/dev/null
"$DOMUS" vgcreate bench "$LOOP" >/dev/null
t0=$(now_ms)
i=0
while [ $i -lt "$NLV" ]; do
	"$DOMUS" lvcreate -l 1 -n "lv$i" bench >/dev/null
	i=$(( i + 1 ))
done
echo "built with domus in $(( $(now_ms) - t0 )) ms"
lvm vgck bench 2>/dev/null

d_create=$(time_ms "$DOMUS" lvcreate -l 1 -n d%d bench)
l_create=$(time_ms lvm lvcreate --driverloaded n -an -Zn -l 1 -n l%d bench)
d_lvs=$(time_ms "$DOMUS" lvs bench)
l_lvs=$(time_ms lvm lvs bench)
printf "%-10s %10s %10s %12s\n" "op" "domus ms" "lvm2 ms" "lvm2/domus"
printf "%-10s %10s %10s %12s\n" lvcreate "$d_create" "$l_create" "$(ratio "$l_create" "$d_create")"
printf "%-10s %10s %10s %12s\n" lvs "$d_lvs" "$l_lvs" "$(ratio "$l_lvs" "$d_lvs")"

echo "== origin write throughput: $MIB MiB in 1 MiB writes (MiB/s)"
truncate -s 4G "$WORK/tp.img"
"$DOMUS" vgcreate tp "$WORK/tp.img" >/dev/null
printf "%-8s %12s %16s %8s %18s\n" chunk "no snapshot" "with snapshot" ratio "snapshot, rewrite"
for chunk in 4k 64k; do
	"$DOMUS" lvcreate -L "${MIB}m" -n o tp >/dev/null
	"$IO" "$DOMUS_ROOT" tp/o "$MIB" 1024 >/dev/null   # allocate the file blocks
	none=$("$IO" "$DOMUS_ROOT" tp/o "$MIB" 1024)
	"$DOMUS" lvcreate -s -c "$chunk" -L "$(( MIB + MIB / 8 + 8 ))m" -n s tp/o >/dev/null
	snap=$("$IO" "$DOMUS_ROOT" tp/o "$MIB" 1024)
	again=$("$IO" "$DOMUS_ROOT" tp/o "$MIB" 1024)
	printf "%-8s %12s %16s %8s %18s\n" "$chunk" "$none" "$snap" "$(ratio "$snap" "$none")" "$again"
	"$DOMUS" lvremove tp/s >/dev/null
	"$DOMUS" lvremove tp/o >/dev/null
done
