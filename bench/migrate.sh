#!/bin/bash
# bench/migrate.sh - live migration: Domus against QEMU's own, same run.
#
# Five network namespaces (tests/system/migkit.py): hosts A and B with their
# own instance roots and domusd (mutual TLS), a SAN exporting the guest's
# root LV with `domus nbd-serve --tcp`, a client streaming numbered records
# through one TCP connection to an echo server in the guest, and a switch
# bridge joining them. For an idle 256 MiB guest and one dirtying 64 MiB of
# memory in a loop, with shared storage (root disk on the SAN) and with
# local storage (root disk a 40 MiB LV on A, copied to B during the
# migration), BENCH_RUNS times each (default 3, medians):
#   domus  `migrate --live` (the daemon's migrate API call) A -> B
#   qemu   the same QEMU command line started by hand in A and B, QMP
#          `migrate tcp:B` with the parameters Domus sets; local storage:
#          raw files, B's drive exported with nbd-server-add, A's
#          blockdev-mirror into it, pause-before-switchover (as libvirt
#          migrates without shared storage)
# and prints QEMU-reported downtime, the stream's largest gap, total time,
# QEMU's own total time, the disk's sync time, Domus orchestration (total -
# QEMU's total; before the copy / after it; the target's start of the
# incoming domain, inside "before"), and the Domus/QEMU ratios.
# Targets (issue 6): downtime within 10% of QEMU's, idle downtime < 50 ms,
# orchestration before + after the copy < 300 ms. Run as root.
# BENCH_CASES picks cases (default "shared/idle shared/dirty local/idle
# local/dirty"); BENCH_PEERS the peers (default "qemu qemu-tls");
# BENCH_HUGEPAGES adds that many 2 MiB pages to the host's hugetlb pool for
# the run (QEMU's heaps on the pool: domus.conf qemu_heap_hugetlb);
# BENCH_TARGET_LOAD runs that many busy loops on B (its other guests);
# BENCH_DOMUS_CONF lines added to both hosts' domus.conf (e.g.
# "migration_stream_buffer_kib = 0"); BENCH_DOMUS_STREAM A's migration_stream.
#
#   bench/migrate.sh [BUILD_DIR]        BENCH_RUNS=1 bench/migrate.sh
set -euo pipefail

BUILD=$(realpath "${1:-build}")
for tool in qemu-system-x86_64 qemu-img certtool ss bridge /usr/bin/python3; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
[ -x "$BUILD/domus" ] || { echo "bench: $BUILD/domus not built" >&2; exit 1; }
[ -f "$BUILD/guest/rootfs.img" ] || { echo "bench: guest kit missing (make guest)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: run as root (network namespaces)" >&2; exit 1; }
DOMUS_BUILD=$BUILD exec /usr/bin/python3 "$(dirname "$0")/migrate.py"
