#!/usr/bin/env bash
# bench/accelerator.py on a lent GPU machine (one H100/H200), as one prepared script.
#
# What worked there (../shared/notes/accelerator.md): Python 3.12 with the machine's own
# JAX 0.11.2 + CUDA plugin, flax, optax, orbax-checkpoint, sentencepiece, safetensors,
# numpy, tokenizers and jinja2 (with transformers); no registry. The missing pure-Python
# wheels travel with the working tree in the git-ignored .device-wheels/.
#
# 1. Here, with the registry:   bash bench/accelerator_device.sh fetch
# 2. On the device (`run` tool, carry [".device-wheels"], timeout_s ~560):
#      bash bench/accelerator_device.sh                      # LoRA, bf16 + fp32, cached rerun
#      bash bench/accelerator_device.sh --modes full --no-warm-cache
#    Each call stays inside one 10-minute command; figures land in $OUT/accelerator-*.{txt,json}
#    (the JSON is rewritten after every leg, so a cut-short call still returns its legs).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.device-wheels
PACKAGES=(
  google-tunix==0.1.7 qwix==0.1.8 clu==0.0.12 google-metrax==0.2.4 perfetto==0.59.1
  tensorboardX==2.6.5 pydantic==2.14.3 pydantic_core==2.50.4 annotated-types==0.8.0
  typing-inspection==0.4.5 ml_collections==1.1.0
)

if [[ "${1:-}" == fetch ]]; then
  rm -rf "$WHEELS"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d "$WHEELS" "${PACKAGES[@]}"
  ls "$WHEELS"
  exit 0
fi

OUT="${OUT:-/tmp/accelerator-out}"
mkdir -p "$OUT"
SITE="$(mktemp -d)"
python3 -m pip install --quiet --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$SITE:$PWD/src"
python3 - <<'PY'
import importlib
missing = [m for m in ("jax", "flax", "optax", "orbax.checkpoint", "safetensors", "tokenizers",
                       "jinja2", "sentencepiece", "tunix", "qwix", "pydantic") if
           importlib.util.find_spec(m) is None]
import jax
print("devices:", jax.devices(), "jax", jax.__version__, "missing:", missing or "none")
raise SystemExit(1 if missing else 0)
PY
nvidia-smi --query-gpu=name,memory.used,memory.total,clocks.sm --format=csv || true
name="accelerator-$(echo "${*:-lora}" | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')"
args=("$@")
if [[ $# -eq 0 ]]; then
  args=(--modes lora)
fi
timeout 540 python3 -P bench/accelerator.py "${args[@]}" --json "$OUT/$name.json" \
  2>&1 | tee "$OUT/$name.txt"
