#!/bin/bash
# bench/nbd.sh - NBD server throughput: domus nbd-serve vs qemu-nbd vs nbdkit.
#
# Runs the same four fio jobs (4 KiB random read/write at queue depth 32,
# 1 MiB sequential read/write) through fio's nbd engine against each server
# on one backing file, and fio on the file itself as the ceiling. Prints
# IOPS and MiB/s per job and server, then the ratios the targets are about:
# domus / best(qemu-nbd, nbdkit) on every job, domus / direct on 4 KiB jobs.
#
#   bench/nbd.sh [BUILD_DIR]      (default: build)
#   BENCH_RUNTIME=10 BENCH_SIZE_MB=512 bench/nbd.sh
set -euo pipefail

BUILD=$(realpath "${1:-build}")
RUNTIME=${BENCH_RUNTIME:-10}
SIZE_MB=${BENCH_SIZE_MB:-512}
DOMUS=$BUILD/domus

for tool in fio qemu-nbd nbdkit python3; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
[ -x "$DOMUS" ] || { echo "bench: $DOMUS not built" >&2; exit 1; }
fio --enghelp 2>/dev/null | grep -qw nbd || { echo "bench: fio has no nbd engine" >&2; exit 1; }

WORK=$(mktemp -d /tmp/nbd-bench.XXXXXX)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

IMG=$WORK/disk.img
SOCK=$WORK/nbd.sock
# Real data everywhere, so reads are reads and not holes; then in the page
# cache for every server alike.
dd if=/dev/urandom of="$IMG" bs=1M count="$SIZE_MB" status=none
cat "$IMG" >/dev/null

JOBS="randread-4k randwrite-4k read-1m write-1m"

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

wait_socket() {
	for _ in $(seq 200); do
		# the file appears at bind(), a moment before listen()
		[ -S "$SOCK" ] && sleep 0.2 && return 0
		sleep 0.05
	done
	echo "bench: $1 did not create its socket" >&2
	exit 1
}

# bench_server NAME CMD...: start a server on $SOCK, run every job, stop it.
bench_server() {
	local name=$1
	shift
	rm -f "$SOCK"
	"$@" >"$WORK/$name.log" 2>&1 &
	SERVER_PID=$!
	wait_socket "$name"
	for job in $JOBS; do
		run_fio "$name" "$job" --ioengine=nbd --uri="nbd+unix:///?socket=$SOCK"
	done
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

ENGINE=io_uring
fio --enghelp 2>/dev/null | grep -qw io_uring || ENGINE=libaio
: >"$WORK/results"
for job in $JOBS; do
	run_fio direct "$job" --ioengine="$ENGINE" --filename="$IMG"
done
bench_server domus "$DOMUS" nbd-serve "$IMG" --unix "$SOCK"
bench_server qemu-nbd qemu-nbd -f raw -t -k "$SOCK" "$IMG"
bench_server nbdkit nbdkit -f -U "$SOCK" file "$IMG"

python3 - "$WORK/results" "$RUNTIME" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
r = {(n, j): (int(i), float(m)) for n, j, i, m in rows}
jobs = ["randread-4k", "randwrite-4k", "read-1m", "write-1m"]
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
