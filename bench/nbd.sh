#!/bin/bash
# bench/nbd.sh - NBD server throughput: domus nbd-serve vs qemu-nbd vs nbdkit.
#
# Runs the same four fio jobs (4 KiB random read/write at queue depth 32,
# 1 MiB sequential read/write) through fio's nbd engine against each server
# on one backing file, and fio on the file itself as the ceiling. Prints
# IOPS and MiB/s per job and server (the file itself: the better of io_uring
# and psync), then the ratios the targets are about:
# domus / best(qemu-nbd, nbdkit) on every job, domus / direct on 4 KiB jobs.
#
#   bench/nbd.sh [BUILD_DIR]      (default: build)
#   BENCH_RUNTIME=10 BENCH_SIZE_MB=512 BENCH_ROUNDS=1 bench/nbd.sh
#   BENCH_JOBS="read-1m write-1m" bench/nbd.sh     (a subset of the jobs)
#
# The three servers run side by side on the same file; jobs are interleaved
# across targets, and with BENCH_ROUNDS>1 each keeps its best round.
set -euo pipefail

BUILD=$(realpath "${1:-build}")
RUNTIME=${BENCH_RUNTIME:-10}
SIZE_MB=${BENCH_SIZE_MB:-512}
ROUNDS=${BENCH_ROUNDS:-1}
DOMUS=$BUILD/domus

for tool in fio qemu-nbd nbdkit python3; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
[ -x "$DOMUS" ] || { echo "bench: $DOMUS not built" >&2; exit 1; }
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "bench: fio has no nbd engine" >&2; exit 1; }

WORK=$(mktemp -d /tmp/nbd-bench.XXXXXX)
SERVER_PIDS=
cleanup() {
	# shellcheck disable=SC2086
	[ -n "$SERVER_PIDS" ] && kill $SERVER_PIDS 2>/dev/null && wait 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

IMG=$WORK/disk.img
# Real data everywhere, so reads are reads and not holes; then in the page
# cache for every server alike.
dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE_MB" status=none
cat "$IMG" >/dev/null

JOBS=${BENCH_JOBS:-randread-4k randwrite-4k read-1m write-1m}

# job_args JOB: fio options for one job.
job_args() {
	case $1 in
	randread-4k) echo "--rw=randread --bs=4k --iodepth=32" ;;
	randwrite-4k) echo "--rw=randwrite --bs=4k --iodepth=32" ;;
	read-1m) echo "--rw=read --bs=1m --iodepth=8" ;;
	write-1m) echo "--rw=write --bs=1m --iodepth=8" ;;
	esac
}

# run_fio NAME JOB ENGINE-ARGS...: one fio run; appends "NAME JOB IOPS MIBS".
run_fio() {
	local name=$1 job=$2
	shift 2
	# shellcheck disable=SC2046
	fio --name="$job" $(job_args "$job") --size="${SIZE_MB}m" --time_based \
		--runtime="$RUNTIME" --ramp_time=1 --output-format=json "$@" >"$WORK/out.json"
	python3 - "$name" "$job" "$WORK/out.json" >>"$WORK/results" <<'PY'
import json, sys
name, job, path = sys.argv[1:]
text = open(path).read()  # the nbd engine prints a line before the JSON
j = json.loads(text[text.index("{"):])["jobs"][0]
side = j["write"] if "write" in job else j["read"]
print(name, job, round(side["iops"]), round(side["bw_bytes"] / 2**20, 1))
PY
}

# start_server NAME CMD...: run a server on $WORK/NAME.sock in the background.
start_server() {
	local name=$1 sock=$WORK/$1.sock
	shift
	"$@" >"$WORK/$name.log" 2>&1 &
	SERVER_PIDS="$SERVER_PIDS $!"
	for _ in $(seq 200); do
		# the file appears at bind(), a moment before listen()
		[ -S "$sock" ] && sleep 0.2 && return 0
		sleep 0.05
	done
	echo "bench: $name did not create its socket" >&2
	exit 1
}

ENGINE=io_uring
fio --enghelp 2>/dev/null | grep -qw io_uring || ENGINE=libaio
start_server domus "$DOMUS" nbd-serve "$IMG" --unix "$WORK/domus.sock"
start_server qemu-nbd qemu-nbd -f raw -t -k "$WORK/qemu-nbd.sock" "$IMG"
start_server nbdkit nbdkit -f -U "$WORK/nbdkit.sock" file "$IMG"

# Jobs run one target after the other, round after round, so that a busy
# machine slows every target alike; each target keeps its best round.
: >"$WORK/results"
for _ in $(seq "$ROUNDS"); do
	for job in $JOBS; do
		# The ceiling is the faster of queued and plain synchronous I/O,
		# on the same page cache the servers use (fio would otherwise drop
		# the file's cache before each job and read from the disk).
		run_fio direct "$job" --ioengine="$ENGINE" --invalidate=0 --filename="$IMG"
		run_fio direct "$job" --ioengine=psync --iodepth=1 --invalidate=0 --filename="$IMG"
		for name in domus qemu-nbd nbdkit; do
			run_fio "$name" "$job" --ioengine=nbd --uri="nbd+unix:///?socket=$WORK/$name.sock"
		done
	done
done

python3 - "$WORK/results" "$RUNTIME" $JOBS <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
r = {}
for n, j, i, m in rows:  # best round per target and job
    r[n, j] = max(r.get((n, j), (0, 0.0)), (int(i), float(m)))
jobs = sys.argv[3:]
servers = ["direct", "domus", "qemu-nbd", "nbdkit"]
print(f"NBD benchmark ({sys.argv[2]} s per job, fio nbd engine; direct = fio on the file)")
print(f"{'job':<14}" + "".join(f"{s:>20}" for s in servers))
for j in jobs:
    print(f"{j:<14}" + "".join(f"{r[s, j][0]:>10} {r[s, j][1]:>7.1f}MiB" for s in servers))
print()
print(f"{'job':<14}{'domus/best-other':>18}{'domus/direct':>14}")
ok = True
for j in jobs:
    best = max(r["qemu-nbd", j][0], r["nbdkit", j][0])
    vs_other = r["domus", j][0] / best
    vs_direct = r["domus", j][0] / r["direct", j][0]
    ok &= vs_other >= 1.0 and (vs_direct >= 0.8 or not j.endswith("4k"))
    print(f"{j:<14}{vs_other:>18.2f}{vs_direct:>14.2f}")
print()
print("targets met" if ok else "targets NOT met (domus >= best other on every job, >= 0.80 of direct on 4k jobs)")
PY
