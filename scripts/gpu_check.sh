#!/usr/bin/env bash
# GPU check for issue 15, prepared for a machine with one or more CUDA GPUs (not yet run: no GPU
# has been lent). Installs what it needs, then: the `cuda`-marked tests, benchmarks/gpu.py
# (GPT-2-124M bf16 compiled: warmstart vs Trainer(torch_compile=True), MFU, LM-loss memory), a 1-GPU
# pretrain of the demo recipe, and (with >1 GPU) the same recipe under torchrun on every GPU, once
# with DDP and once with FSDP. Writes everything under one folder (default gpu_check/), one JSON
# summary at gpu_check/summary.json. Budget: < 8 min (each step has its own timeout).
#
#   bash scripts/gpu_check.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=src

# Install: a CUDA torch if the installed one is CPU-only, then the project (editable) and pytest.
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  timeout 240 "$PY" -m pip install -q torch >"$OUT/pip_torch.log" 2>&1 || echo "torch install failed (see $OUT/pip_torch.log)"
fi
timeout 120 "$PY" -m pip install -q -e ".[dev]" >"$OUT/pip_project.log" 2>&1 || echo "project install failed"

"$PY" - >"$OUT/device.json" <<'PYEOF'
import json, torch
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "gpus": torch.cuda.device_count(),
                  "names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                  "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported()}))
PYEOF
NGPU=$("$PY" -c "import torch; print(torch.cuda.device_count())")

timeout 180 "$PY" -m pytest -q -m cuda -p no:cacheprovider --junitxml="$OUT/cuda_tests.xml" tests >"$OUT/cuda_tests.log" 2>&1
TESTS_RC=$?

# GPT-2-124M: two compiled arms of 8 + 20 steps at batch 16 x 1024 (compilation is most of it).
timeout 240 "$PY" benchmarks/gpu.py --steps 20 --warmup 8 --out "$OUT" >"$OUT/gpu_bench.log" 2>&1
BENCH_RC=$?

RECIPE=src/warmstart/recipes/pretrain_clm_tiny.yaml
SET=(--set train.device=cuda --set train.precision=auto --set train.progress=false --set run.out_dir="$OUT/runs")
timeout 150 "$PY" -m warmstart pretrain "$RECIPE" --overwrite "${SET[@]}" --set run.name=gpu1 >"$OUT/pretrain_1gpu.log" 2>&1
ONE_RC=$?
MULTI_RC=null
FSDP_RC=null
if [ "$NGPU" -gt 1 ]; then
  timeout 150 "$PY" -m torch.distributed.run --standalone --nproc-per-node "$NGPU" -m warmstart pretrain "$RECIPE" \
    --overwrite "${SET[@]}" --set run.name=gpu_ddp >"$OUT/pretrain_ddp.log" 2>&1
  MULTI_RC=$?
  timeout 120 "$PY" -m torch.distributed.run --standalone --nproc-per-node "$NGPU" -m warmstart pretrain "$RECIPE" \
    --overwrite "${SET[@]}" --set train.parallel=fsdp --set run.name=gpu_fsdp >"$OUT/pretrain_fsdp.log" 2>&1
  FSDP_RC=$?
fi

"$PY" - "$OUT" "$TESTS_RC" "$BENCH_RC" "$ONE_RC" "$MULTI_RC" "$FSDP_RC" >"$OUT/summary.json" <<'PYEOF'
import json, sys
from pathlib import Path
out, tests_rc, bench_rc, one_rc = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
multi_rc, fsdp_rc = (None if x == "null" else int(x) for x in sys.argv[5:7])
def result(path):
    p = out / path
    return json.loads(p.read_text()) if p.is_file() else None
print(json.dumps({"device": result("device.json"), "cuda_tests_rc": tests_rc,
                  "gpu_bench_rc": bench_rc, "gpu_bench": result("gpu.json"),  # written by benchmarks/gpu.py
                  "pretrain_1gpu_rc": one_rc, "pretrain_1gpu": result("runs/gpu1/result.json"),
                  "pretrain_ddp_rc": multi_rc, "pretrain_ddp": result("runs/gpu_ddp/result.json"),
                  "pretrain_fsdp_rc": fsdp_rc, "pretrain_fsdp": result("runs/gpu_fsdp/result.json")}, indent=2))
PYEOF
cat "$OUT/summary.json"
