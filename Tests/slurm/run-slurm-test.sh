#!/usr/bin/env bash
# The Slurm test of `cnnc sweep`: starts a single-node Slurm cluster on this machine
# (slurm-cluster.sh), submits a 3-point sweep as a job array (--slurm --submit), waits for it with a
# bounded timeout, collects it, and compares it with the same sweep run locally: byte-identical
# weights, the same metrics and run records apart from timings, the same sweep.csv apart from the
# seconds column. Skips (exit 0, printing why) only when Slurm cannot start here.
# Usage: Tests/slurm/run-slurm-test.sh [CNNC_BINARY]   (MNIST from $CNNC_DATA)
set -uo pipefail
cd "$(dirname "$0")/../.."
cnnc=$(realpath "${1:-.build/release/cnnc}")
data=${CNNC_DATA:-$(cd .. && pwd)/shared/data/mnist}
[ -x "$cnnc" ] || { echo "slurm test: FAIL: no cnnc binary at $cnnc (swift build -c release)"; exit 1; }
[ -d "$data" ] || { echo "slurm test: FAIL: no MNIST at $data (set CNNC_DATA)"; exit 1; }

work=$(mktemp -d /tmp/cnnc-slurm-test.XXXXXX)
source Tests/slurm/slurm-cluster.sh
job=""
cleanup() {
    [ -n "$job" ] && scancel "$job" 2>/dev/null
    slurm_stop
    [ -n "${KEEP_SLURM_TEST:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

if ! reason=$(slurm_start "$work/cluster" 2>&1); then
    echo "slurm test: SKIPPED: Slurm cannot start on this machine: $reason"
    exit 0
fi
export SLURM_CONF="$work/cluster/slurm.conf"
fail() { echo "slurm test: FAIL: $*"; exit 1; }

sweep=(sweep examples/lenet.yaml --dropout 0,0.3,0.6 --limit 320 --val 100 --batch-size 32 --threads 1
       --data "$data" --no-download)
submitted=$("$cnnc" "${sweep[@]}" --slurm --cpus-per-task 1 --time 00:10:00 --submit --out "$work/slurm") \
    || fail "cnnc sweep --slurm --submit failed: $submitted"
echo "$submitted"
job=$(echo "$submitted" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
[ -n "$job" ] || fail "no job id in: $submitted"
grep -q -- '--array=0-2' "$work/slurm/sweep.sbatch" || fail "sweep.sbatch has no 3-task array"

# Wait (bounded) until the array has left the queue.
for _ in $(seq 1 240); do
    [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
    sleep 0.5
done
[ -n "$(squeue -h -j "$job" 2>/dev/null)" ] && fail "job $job still queued or running after 120 s: $(squeue -j "$job")"
job_done=$job
job=""
"$cnnc" sweep --collect "$work/slurm" >"$work/collect.txt" 2>&1 \
    || fail "cnnc sweep --collect failed: $(cat "$work/collect.txt"; cat "$work"/slurm/logs/* 2>/dev/null)"
echo "collected job $job_done:"
cat "$work/collect.txt"

"$cnnc" "${sweep[@]}" --out "$work/local" --quiet >"$work/local.txt" 2>&1 || fail "the local sweep failed: $(cat "$work/local.txt")"

python3 - "$work/slurm" "$work/local" <<'PY' || exit 1
import csv, json, os, sys
slurm, local = sys.argv[1:3]
timing = {"seconds", "train_seconds", "evaluation_seconds", "images_per_second", "total_seconds", "started_at"}
def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in timing}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value
def jsonl(path):
    return [strip(json.loads(line)) for line in open(path)]
problems = []
runs = sorted(d for d in os.listdir(local) if os.path.isdir(os.path.join(local, d)) and d[0].isdigit())
if len(runs) != 3:
    problems.append(f"expected 3 run folders, found {runs}")
for run in runs:
    a, b = os.path.join(slurm, run), os.path.join(local, run)
    if open(os.path.join(a, "weights.safetensors"), "rb").read() != open(os.path.join(b, "weights.safetensors"), "rb").read():
        problems.append(f"{run}: weights.safetensors differ")
    if jsonl(os.path.join(a, "metrics.jsonl")) != jsonl(os.path.join(b, "metrics.jsonl")):
        problems.append(f"{run}: metrics.jsonl differ")
    for name in ["run.json", "summary.json"]:
        if strip(json.load(open(os.path.join(a, name)))) != strip(json.load(open(os.path.join(b, name)))):
            problems.append(f"{run}: {name} differs beyond timings")
def table(path):
    rows = list(csv.DictReader(open(path)))
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
if table(os.path.join(slurm, "sweep.csv")) != table(os.path.join(local, "sweep.csv")):
    problems.append("sweep.csv differs beyond the seconds column")
if strip(json.load(open(os.path.join(slurm, "sweep.json")))) != strip(json.load(open(os.path.join(local, "sweep.json")))):
    problems.append("sweep.json differs beyond timings")
if problems:
    print("slurm test: FAIL:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"slurm test: PASS: {len(runs)} runs on Slurm equal the local sweep (weights byte-identical; metrics, records and tables equal apart from timings)")
PY
