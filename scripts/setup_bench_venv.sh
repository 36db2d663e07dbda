#!/usr/bin/env bash
# Creates .venv (git-ignored) with what scripts/*.py import: torch and transformers at the
# versions the README's speed tables cite (torch 2.15, transformers 5.23), and the reference
# scripts' numpy, safetensors, huggingface_hub, tokenizers, scipy, nltk and lexicalrichness.
#
# torch: the CPU build from PyTorch's own wheel index when it can be reached (no CUDA
# libraries, ~200 MB); otherwise PyPI's default wheel of the same version (the README's
# "PyTorch 2.15 from PyPI": same CPU kernels, MKL, but it pulls the CUDA libraries, a few GB).
#
# Usage (from the crate root): scripts/setup_bench_venv.sh
#   PYTHON=python3.11 VENV=.venv TORCH_VERSION=2.15.0 TRANSFORMERS_VERSION=5.23.0 to override.
# An existing .venv is reused: only what is missing or at another version is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.15.0}
TRANSFORMERS_VERSION=${TRANSFORMERS_VERSION:-5.23.0}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

if [[ -x "$VENV/bin/python" ]]; then
  echo "reusing $VENV ($("$VENV/bin/python" --version))"
else
  echo "creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip

have_torch() {
  "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null
}
if have_torch; then
  echo "torch $TORCH_VERSION already installed"
elif "$PY" -m pip install --timeout 20 --retries 1 --index-url "$TORCH_CPU_INDEX" \
    "torch==$TORCH_VERSION" 2>/dev/null; then
  echo "installed the CPU build of torch $TORCH_VERSION"
else
  echo "PyTorch's CPU wheel index is unreachable: installing PyPI's torch==$TORCH_VERSION (with CUDA libraries)"
  "$PY" -m pip install "torch==$TORCH_VERSION"
fi

"$PY" -m pip install "transformers==$TRANSFORMERS_VERSION" numpy safetensors huggingface_hub \
  tokenizers scipy nltk lexicalrichness

"$PY" - <<'EOF'
import torch, transformers, numpy, safetensors, huggingface_hub, tokenizers, scipy, nltk, lexicalrichness
print(f"ok: python {__import__('sys').version.split()[0]}, torch {torch.__version__} "
      f"(CUDA build: {torch.version.cuda is not None}, MKL: {torch.backends.mkl.is_available()}), "
      f"transformers {transformers.__version__}, numpy {numpy.__version__}")
EOF
