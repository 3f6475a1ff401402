#!/usr/bin/env bash
# One device script: every GPU figure of bench/RESULTS.md, each as a ratio against a baseline measured in
# the same run (interleaved repeats, medians, TF32 off in fp32 baselines), then `pytest -m gpu`.
#
#   bash bench/gpu.sh            # on one GPU, from the repository root: at most 6 minutes in all
#   bash bench/gpu.sh --smoke    # tiny sizes on the CPU: catches bugs anywhere (a few minutes on 2 cores)
#
# Carry (see "Running on a GPU machine" in the team notes): .whl/ with the tensorly and torch-fidelity
# wheels (installed into /tmp/site here when missing); optionally the FID Inception weights at
# $GANCTL_INCEPTION_WEIGHTS or /root/pt_inception.pth (without them the FID figure uses the randconv
# proxy extractor and says so) and CIFAR-10 images at /tmp/CIFAR-10-images/train (else synthetic data).
# Each sub-benchmark has its own time limit, so one failure or hang does not cost the others; full logs
# go to $OUT (or /tmp/ganctl-gpu-bench); the summary table is printed last.
set -u
cd "$(dirname "$0")/.."
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
LOG=${OUT:-/tmp/ganctl-gpu-bench}
mkdir -p "$LOG"
PY=${PYTHON:-python}
if [ -d .whl ] && ! $PY -c "import tensorly, torch_fidelity" 2>/dev/null; then
  pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
export GANCTL_CACHE=${GANCTL_CACHE:-/tmp/ganctl-cache}
BUDGET=${GPU_BENCH_BUDGET_S:-360}
START=$(date +%s)

bench() {  # bench NAME LIMIT_S CMD...: run with its own limit, never past the whole script's budget
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET - ($(date +%s) - START)))
  if [ "$left" -lt 15 ]; then echo "== $name skipped: out of time" | tee "$LOG/$name.log"; return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$(date +%s)
  timeout -k 10 "$limit" "$@" > "$LOG/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc=$rc ($(( $(date +%s) - t0 )) s, limit ${limit} s)$([ $rc -eq 124 ] && echo ' TIMED OUT')"
  tail -n 6 "$LOG/$name.log" | cut -c1-300
}

$PY - <<'PY' | tee "$LOG/device.txt"
import datetime, torch
dev = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
print(f"device {dev}; torch {torch.__version__}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
PY

W=${GANCTL_INCEPTION_WEIGHTS:-/root/pt_inception.pth}
FID_EXT=(--extractor randconv)
[ -f "$W" ] && FID_EXT=(--extractor inception-v3-compat --inception-weights "$W")
FID_DATA=()
[ -d /tmp/CIFAR-10-images/train ] && FID_DATA=(--data folder:/tmp/CIFAR-10-images/train)

if [ "$SMOKE" = 1 ]; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  BUDGET=${GPU_BENCH_BUDGET_S:-900}
  bench train 240 $PY bench/train_throughput.py --preset tiny --batch-size 8 --device cpu --steps 2 --repeats 2 --warmup 1
  bench sample 120 $PY bench/sample_speed.py --generator small --batch-size 32 --repeats 2 --warmup 1 --device cpu
  bench fid 180 $PY bench/fid_speed.py --n 300 --folder-n 200 --repeats 1 --extractor randconv
  bench compress 300 $PY bench/compress_speed.py --device cpu --batch 2 --repeats 1 --skip-auto
  bench search 180 $PY bench/search_throughput.py --preset tiny --method adversarialnas --device cpu --iters 1 --warmup 1 --repeats 1
  bench ard 120 $PY bench/ard_speed.py --device cpu --generator small --layers 1 --probe-samples 64 --fit-iters 5
  bench pytest_gpu 120 $PY -m pytest -q -m gpu -p no:cacheprovider tests
else
  bench train 150 $PY bench/train_throughput.py --preset cifar10-large --batch-size 128 --steps 5 --repeats 4 --warmup 3
  bench sample 50 $PY bench/sample_speed.py --generator cifar10-large --batch-size 1000 --repeats 10 --warmup 3
  bench fid 90 $PY bench/fid_speed.py --generator cifar10-large --n 50000 --folder-n 5000 --repeats 1 --batch-size 500 "${FID_EXT[@]}" "${FID_DATA[@]}"
  bench compress 45 $PY bench/compress_speed.py --device cuda --batch 256 --repeats 5 --skip-auto --precision bf16
  bench search 50 $PY bench/search_throughput.py --preset paper --method adversarialnas --iters 5 --warmup 2 --repeats 3
  bench ard 40 $PY bench/ard_speed.py --layers 1 --probe-samples 1000
  bench pytest_gpu 120 $PY -m pytest -q -m gpu -p no:cacheprovider tests
fi

echo "== total $(( $(date +%s) - START )) s"
$PY - "$LOG" <<'PY'
import json, sys
from pathlib import Path

log = Path(sys.argv[1])


def last_json(name):
    path = log / f"{name}.log"
    if not path.exists():
        return None
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


rows = []
t = last_json("train")
if t:
    base = next(iter(t["img_s"].values()))
    rows.append((f"train step img/s ({t['preset']}, b{t['batch']})", f"{t['img_s'][t['best']]:.0f}",
                 f"{t['ratio']:.2f}x vs eager fp32 ({base:.0f})", ">= 6x and >= 2,750 img/s"))
s = last_json("sample")
if s:
    best = max(s["img_per_s"], key=s["img_per_s"].get)
    rows.append((f"sampling img/s ({s['generator']}, b{s['batch_size']})", f"{s['img_per_s'][best]:.0f}",
                 f"{s['ratio_vs_eager_fp32'][best]:.2f}x vs eager fp32 [{best}]", ">= 20,000 img/s"))
f = last_json("fid")
if f:
    rows.append((f"FID-{f['n']} end to end ({f['extractor']})", f"{f['memory_s']:.1f} s",
                 f"{f['ratio_folder_over_memory']:.2f}x vs PNG folder + torch-fidelity (per image)", "<= 30 s"))
c = last_json("compress")
if c:
    for name, r in c["best_compressed_vs_best_dense"].items():
        rows.append((f"compressed {name} (1/3 params) vs dense, b{c['batch']} {c['precision']}", "",
                     f"{r:.2f}x", ">= 1.5x"))
q = last_json("search")
if q:
    fast = q["iters_per_s"]["fast"]
    rows.append((f"search it/s ({q['preset']}, {q['fast_path']})", f"{fast:.2f}",
                 f"{q['ratio_fast_over_eager']:.2f}x vs eager fp32; full paper search "
                 f"{q['projected_hours_paper']['fast']:.2f} h", "<= 1 GPU-hour"))
a = last_json("ard")
if a:
    rows.append((f"ARD --rank auto ({a['generator']}, {a['probes_total']} probes)", f"{a['projected_min']:.1f} min",
                 f"one fit {a['fit_ratio_cpu_over_device']:.1f}x faster than on the CPU", "<= 15 min"))
print()
print(f"{'figure':<52} {'value':>12}  {'ratio (same run)':<60} target")
for r in rows:
    print(f"{r[0]:<52} {r[1]:>12}  {r[2]:<60} {r[3]}")
p = log / "pytest_gpu.log"
if p.exists():
    tail = [x for x in p.read_text(errors="replace").splitlines() if x.strip()]
    print(f"pytest -m gpu: {tail[-1] if tail else 'no output'}")
print((log / "device.txt").read_text().strip() if (log / "device.txt").exists() else "")
PY
