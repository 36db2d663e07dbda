#!/usr/bin/env bash
# Everything a lent GPU is needed for, in one run (issue 15). Two steps:
#
#   bash scripts/gpu_check.sh prepare     here, on the CPU machine (about 20 minutes from clean):
#       builds the release binary and the integration tests with --features cuda for compute
#       capability 9.0 (scripts/cuda_build.sh: CUDA 13.0, what the GPU machines run), strips
#       them into .gpu/ (xz-compressed) with a Hub cache holding a tiny OPT and a wikitext-like
#       dataset (exported by the fake-Hub test), 22 MB in all;
#   then, through the device tool, with `carry: [".gpu"]` and a 600 s limit:
#       bash scripts/gpu_check.sh run
#   which writes under $OUT: nvidia-smi.txt; cuda-tests.txt (tests/it/cuda.rs: the five PyTorch
#   fixtures in f32, bf16/f16 inference, transformers.generate identity, on the GPU);
#   bench-train.txt and bench-generate.txt (opt-125m's shape against PyTorch + transformers on
#   the same GPU in the same run: training and eval tokens/s, 5-beam, sampling and greedy);
#   opt-chain.txt (a 2-generation chain of the tiny OPT with the paper preset's settings on the
#   GPU, offline from the carried cache); summary.txt (the lines that matter from each).
# Each step has its own time limit (450 s in all, inside the device tool's 600 s per call) so
# that one hang cannot eat the lease.
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
  set -e
  bash scripts/cuda_build.sh 90
  export PATH=$PWD/.cuda/13.0/bin:$PATH CUDA_ROOT=$PWD/.cuda/13.0 CUDA_COMPUTE_CAP=90
  export LIBRARY_PATH=$PWD/.cuda/13.0/lib64:$PWD/.cuda/13.0/lib64/stubs
  cargo test --release --features cuda --target-dir target/cuda-90 --no-run --test it 2>&1 | tail -1
  rm -rf .gpu && mkdir -p .gpu
  strip -o .gpu/collapse-lab target/cuda-90/release/collapse-lab
  it=$(ls -t target/cuda-90/release/deps/it-* | grep -v '\.d$' | head -1)
  strip -o .gpu/it "$it"
  # xz: the binaries carry candle's kernels as PTX text (82 + 62 MB stripped, 12 + 10 MB
  # compressed); the device tool carries 64 MiB at most.
  xz -T2 -6 .gpu/collapse-lab .gpu/it
  # The Hub cache of the fake-Hub OPT test (CPU build; the cache layout is the same).
  export_dir=$(mktemp -d)
  COLLAPSE_LAB_EXPORT_DIR=$export_dir cargo test --release --test it cli_opt::opt_chain -q 2>&1 | tail -1
  cp -a "$export_dir/hf-home" .gpu/hf-home
  rm -rf "$export_dir"
  du -sh .gpu
}

run() {
  out=${OUT:-/tmp/gpu-check}
  mkdir -p "$out"
  # CUDA's libraries there: the image's Python packages (nvidia/cu13/lib); the driver's libcuda.
  libs=$(python3 -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13", "lib"))' 2>/dev/null)
  export LD_LIBRARY_PATH=${libs:+$libs:}${LD_LIBRARY_PATH:-}
  # Unpacked with Python's lzma (the image has Python; xz may be missing).
  for f in collapse-lab it; do
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      ".gpu/$f.xz" "/tmp/$f" && chmod +x "/tmp/$f"
  done
  bin=/tmp/collapse-lab
  { nvidia-smi; nvcc --version; } >"$out/nvidia-smi.txt" 2>&1
  # The tests read fixtures from the crate root they were built in: point them here.
  COLLAPSE_LAB_ROOT=$PWD timeout 120 /tmp/it cuda --test-threads 1 --nocapture \
    >"$out/cuda-tests.txt" 2>&1
  echo "cuda tests: exit $?" >>"$out/summary.txt"
  timeout 120 "$bin" bench opt-train --device cuda --batch 16 --context 64 --steps 10 \
    --warmup-steps 3 --compare-torch python3 >"$out/bench-train.txt" 2>&1
  echo "bench opt-train: exit $?" >>"$out/summary.txt"
  timeout 120 "$bin" bench opt-generate --device cuda --steps 3 --warmup-steps 1 \
    --compare-torch python3 >"$out/bench-generate.txt" 2>&1
  echo "bench opt-generate: exit $?" >>"$out/summary.txt"
  work=$(mktemp -d)
  HF_HOME=$PWD/.gpu/hf-home HF_HUB_OFFLINE=1 timeout 90 "$bin" --workdir "$work" chain \
    --experiment opt-gpu --model hf:test/tiny-opt --corpus hf:test/wikitext/wikitext-2-raw-v1 \
    --generations 2 --device cuda --protocol continue:8 --num-beams 5 --repetition-penalty 1.2 \
    --context 16 --epochs 1 --train-tokens 1500 --sample-tokens 400 >"$out/opt-chain.txt" 2>&1
  echo "opt chain: exit $?" >>"$out/summary.txt"
  cp "$work"/checkpoints/opt-gpu/gen-01/train_log.json "$out/" 2>/dev/null
  grep -h "worst\|test result\|tokens/s\|ratio\|device\|^gen\|NVIDIA\|release" "$out"/*.txt \
    "$out"/train_log.json >>"$out/summary.txt" 2>/dev/null
  cat "$out/summary.txt"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu_check.sh prepare|run" >&2; exit 2 ;;
esac
