#!/usr/bin/env bash
# The accelerator profile: one script, installs nothing, < 8 minutes on one GPU.
#
# Assumes a Python with jax[cuda] (or jax[tpu]) and the rmtjax dependencies: $PYTHON, else
# .venv/bin/python, else python3. Runs `python -m benchmarks.device_check` (eigvec_overlap
# trials/s, GRAMPA n = 1000-8000 f32, batched match B = 64, the seed-scale structured NTK,
# limit densities, trainer steps/s), prints one table and writes it to
# $OUT/device_check.txt and $OUT/device_check.json (default OUT=benchmarks/out), the JSON
# after every case. Without an accelerator it stops with a message, unless --quick (CPU-test
# sizes). Usage: bash benchmarks/device_check.sh [--quick] [--only NAME,...]
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
quick=0
for arg in "$@"; do [[ "$arg" == "--quick" ]] && quick=1; done

if ! backend=$("$py" -c "import jax; print(jax.default_backend())" 2>/dev/null); then
  echo "device_check: '$py' cannot import jax; install jax[cuda12] (or set PYTHON)" >&2
  exit 2
fi
if [[ "$backend" == "cpu" && "$quick" == 0 ]]; then
  echo "device_check: jax sees no accelerator (default backend: cpu); install jax[cuda12]" \
    "for this GPU, or pass --quick for the CPU-test sizes" >&2
  exit 2
fi
"$py" -c "import jax; print(f'jax {jax.__version__} backend={jax.default_backend()} devices={jax.devices()}')"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out_dir/gpu.txt"
fi

# 430 s for the cases (later ones become 'skipped' rows), hard stop at 470 s.
timeout 470 "$py" -m benchmarks.device_check --out "$out_dir" "$@"
