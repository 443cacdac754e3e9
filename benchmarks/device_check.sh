#!/usr/bin/env bash
# GPU-scale benchmark check: one script, no installs, < 8 minutes on one H200.
#
# Assumes a Python with jax[cuda], numpy, scipy, matplotlib and the rmtjax dependencies
# (PYTHON, else .venv/bin/python, else python3). Runs `python -m benchmarks.run --gpu`
# (profile RMTJAX_BENCH_PROFILE=gpu: GRAMPA batches of 64 pairs at n=2000, seed-scale NTK,
# 10^4-atom limit spectra, eigvec_overlap at n=500), prints the table and writes
# $OUT/device_check.json (or benchmarks/out/device_check.json) after every case, so a run cut
# short still leaves what it measured. Usage: bash benchmarks/device_check.sh [extra run.py args]
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${PYTHON:-}" ]]; then
  py="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
  py=.venv/bin/python
else
  py=python3
fi
out_dir="${OUT:-benchmarks/out}"
mkdir -p "$out_dir"

"$py" - <<'EOF'
import jax
devices = jax.devices()
print(f"jax {jax.__version__} backend={jax.default_backend()} devices={devices}")
if jax.default_backend() == "cpu":
    print("WARNING: no accelerator visible; the gpu profile will run on CPU (slow)")
EOF
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out_dir/gpu.txt"
fi

# 450 s for the suite (later cases become 'skipped' rows), hard stop at 470 s.
timeout 470 "$py" -m benchmarks.run --gpu --time-limit 450 \
  --out "$out_dir/device_check.json" "$@"
