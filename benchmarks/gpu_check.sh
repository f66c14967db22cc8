#!/usr/bin/env bash
# The check to run first whenever a GPU is lent: under 8 minutes on one H100, installs included.
#
#   bash benchmarks/gpu_check.sh [OUT] [--wheels DIR] [--no-install]
#
#   OUT           a folder for the logs and the summary (default: gpu-check)
#   --wheels DIR  install offline from the wheels in DIR (a machine with no package index)
#   --no-install  poc is installed already, with the demo, test and gpu extras
#
# Steps, each with a time limit (together 475 s): install poc with its demo, test and gpu extras
# (bitsandbytes) into the python that holds the CUDA torch; stop at once, exit 1, unless torch sees a
# GPU (a wheel the driver cannot use runs everything on the CPU and would "pass"); `poc doctor --gpu`;
# the GPU-marked tests; the demo at bf16-mixed and at fp32, each record checked to have run on the GPU
# with its dtypes, GPU peak and energy; RandLoRA's speed at an LLM's shapes at bf16-mixed and bf16,
# whose printed targets must all read `met`. It ends with one summary table and exits 0 only when every
# step passed and every figure it checks holds.
set -uo pipefail
cd "$(dirname "$0")/.."
out=gpu-check wheels="" install=1
while [ $# -gt 0 ]; do
  case $1 in
    --wheels) wheels=$2; shift 2 ;;
    --no-install) install=0; shift ;;
    -*) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
mkdir -p "$out"
export PYTHONUNBUFFERED=1 COLUMNS=160
python=${PYTHON:-python3}
rows=()
failed=0

row() {  # row STEP RESULT SECONDS WHAT: one line of the summary table
  rows+=("$(printf '%-18s %-6s %5s s  %s' "$1" "$2" "$3" "$4")")
  [ "$2" = ok ] || failed=1
}

step() {  # step NAME LIMIT_S COMMAND...: run it under its limit, log it, add its row; returns its exit code
  local name=$1 limit=$2 start rc
  shift 2
  echo "== $name (at most $limit s): $*"
  start=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  rc=${PIPESTATUS[0]}
  local took=$(($(date +%s) - start)) what="exit $rc"
  [ "$rc" -eq 124 ] && what="over its $limit s limit"
  if [ "$rc" -eq 0 ] && grep -qE '(^|[^A-Za-z])(FAIL|MISSED)([^A-Za-z]|$)' "$out/$name.log"; then
    rc=1 what="printed $(grep -cE '(^|[^A-Za-z])(FAIL|MISSED)([^A-Za-z]|$)' "$out/$name.log") FAIL/MISSED line(s)"
  fi
  row "$name" "$([ "$rc" -eq 0 ] && echo ok || echo FAIL)" "$took" "$([ "$rc" -eq 0 ] && echo "${STEP_WHAT:-}" || echo "$what")"
  return "$rc"
}

summary() {
  echo
  echo "== summary ($out/summary.txt)"
  printf '%s\n' "${rows[@]}" | tee "$out/summary.txt"
  if [ "$failed" -eq 0 ]; then echo "every step passed"; else echo "FAILED: see the rows above"; fi
  exit "$failed"
}

if [ "$install" -eq 1 ]; then
  # shellcheck disable=SC2086
  STEP_WHAT="poc with the demo, test and gpu extras" step install 75 \
    "$python" -m pip install -q -e ".[demo,test,gpu]" ${wheels:+--no-index --find-links "$wheels"} || summary
fi

# No GPU, no check: everything below would run on the CPU and prove nothing about a GPU.
STEP_WHAT="torch sees the GPU" step gpu 15 "$python" - <<'EOF' || summary
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"FAIL: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU: a CPU-only wheel, or one the "
             "driver cannot run; nothing below would have run on a GPU")
major, minor = torch.cuda.get_device_capability(0)
print(f"{torch.cuda.get_device_name(0)}, compute capability {major}.{minor}, torch {torch.__version__}")
EOF

STEP_WHAT="every check passed" step doctor 45 "$python" -m poc_cli doctor --gpu
STEP_WHAT="the GPU-marked tests passed" step pytest-gpu 180 \
  "$python" -m pytest -q -x -m gpu -p no:cacheprovider tests/test_gpu.py
for precision in bf16-mixed fp32; do
  "$python" - "$precision" "$out/demo-$precision.yaml" <<'EOF'
import sys
import yaml
recipe = yaml.safe_load(open("recipes/demo.yaml", encoding="utf-8"))
recipe["name"] = f"demo-{sys.argv[1]}"
recipe["training"]["precision"] = sys.argv[1]
yaml.safe_dump(recipe, open(sys.argv[2], "w", encoding="utf-8"), sort_keys=False)
EOF
  STEP_WHAT="3 jobs" step "demo-$precision" 40 "$python" -m poc_cli run "$out/demo-$precision.yaml" --store "$out/store"
done
# What each demo record says really ran: every one ok, on the GPU, with a GPU peak; a FAIL line otherwise.
STEP_WHAT="every record ran on the GPU" step demo-records 10 "$python" - "$out/store" <<'EOF'
import json, sys
from pathlib import Path
found = 0
for path in sorted(Path(sys.argv[1]).glob("demo-*/*.json")):
    r = json.loads(path.read_text(encoding="utf-8"))
    if r.get("stage") != "run":
        continue
    found += 1
    rt, gpu, energy, mem, timing = (r.get(k) or {} for k in ("runtime", "gpu", "energy", "memory", "timing"))
    score = ((r.get("metrics") or {}).get("test") or {}).get("accuracy")
    print(f"{r['recipe_name']:<16} {r['method']:<9} {r['status']:<6} acc {score if score is None else round(score, 4)}"
          f"  train {timing.get('train_s') or 0:.1f} s (steady {timing.get('steady_train_s') or 0:.1f} s, warm-up "
          f"{timing.get('warmup_s') or 0:.2f} s)  {rt.get('precision')} tf32 {rt.get('tf32')}  dtypes "
          f"{rt.get('parameter_dtypes')}  impl {rt.get('implementation')}")
    print(f"{'':<26} GPU peak {gpu.get('peak_job_mib')} MiB ({gpu.get('peak_job_scope')}); torch reserved "
          f"{mem.get('torch_peak_reserved_mib')} MiB; energy {energy.get('energy_j')} J ({energy.get('method')})")
    if r["status"] != "ok":
        print(f"FAIL: {path.name}: {r['status']}: {r.get('error')}")
    elif r["status"] == "ok" and not str(rt.get("device", "")).startswith("cuda"):
        print(f"FAIL: {path.name} ran on {rt.get('device')!r}, not on the GPU")
    elif r["status"] == "ok" and gpu.get("peak_job_mib") is None:
        print(f"FAIL: {path.name}: no GPU peak ({gpu.get('reason')})")
if found < 6:
    print(f"FAIL: {found} demo run records, expected 6 (3 methods at two precisions)")
EOF
for dtype in bf16-mixed bf16; do
  STEP_WHAT="every target met" step "speed-$dtype" 35 \
    "$python" benchmarks/randlora_speed.py --model llama-like --dtype "$dtype" --steps 5
done
summary
