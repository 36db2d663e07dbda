#!/usr/bin/env bash
# A CUDA toolkit on a Debian machine like ours, and `cargo build --release --features cuda`.
#
#   bash scripts/cuda_build.sh [CAP]          CAP: compute capability, 90 (default: H100/H200) or 80
#   bash scripts/cuda_build.sh 80 debian      Debian bookworm's CUDA 11.8 instead (Ampere at most)
#
# Which toolkit, and why:
# - Default: CUDA 13.0 from PyPI (nvidia-cuda-nvcc, -crt, -nvvm, -runtime, -cccl, -nvrtc,
#   nvidia-cublas, nvidia-curand, pinned to 13.0), unpacked into .cuda/13.0 (git-ignored,
#   about 1 GB). Hopper (compute capability 9.0) needs CUDA 12 or later: candle's kernels ask
#   for compute_90a, which CUDA 11.8's nvcc refuses. PyPI's CUDA 12 wheels carry no nvcc (only
#   ptxas); its CUDA 13 wheels do. 13.0 and not newer: the lent GPU machines run driver 580
#   (CUDA 13.0), and a driver cannot load PTX from a newer nvcc. cudarc 0.19 supports 13.0.
#   The wheels have no driver library to link against (the GPU machine has the real one), so
#   the script writes a stub libcuda.so (every cu* symbol cudarc declares, empty) into
#   lib64/stubs, as the toolkit's own stubs are; it is used only at link time.
# - `debian`: bookworm's nvidia-cuda-toolkit (11.8, from the non-free component, which the
#   script enables): compiles for compute capability 8.0 (measured 9 min 54 s from clean here).
#
# The build goes to target/cuda-<cap> so that it does not replace the CPU build. CI does not run
# this: the build alone takes about ten minutes on 2 cores from clean (see README, "CUDA").
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:-90}
toolkit=${2:-pypi}
root=$(pwd)

if [ "$toolkit" = debian ]; then
  if ! command -v nvcc >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    sources=/etc/apt/sources.list.d/debian.sources
    if [ -f "$sources" ] && ! grep -q non-free "$sources"; then
      $sudo sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$sources"
    elif [ ! -f "$sources" ] && ! grep -qs non-free /etc/apt/sources.list; then
      echo "enable Debian's non-free component in /etc/apt/sources.list, then rerun" >&2
      exit 2
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      nvidia-cuda-toolkit >/dev/null
  fi
  cuda_root=/usr/lib/cuda
else
  cuda_root=$root/.cuda/13.0
  if [ ! -x "$cuda_root/bin/nvcc" ]; then
    rm -rf "$root/.cuda/venv" "$cuda_root"
    python3 -m venv "$root/.cuda/venv"
    "$root/.cuda/venv/bin/pip" install -q \
      "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" \
      "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-cccl==13.0.*" "nvidia-cuda-nvrtc==13.0.*" \
      "nvidia-cublas==13.0.*" "nvidia-curand==10.4.*"
    wheels=$("$root/.cuda/venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
    mkdir -p "$cuda_root/lib64/stubs"
    for d in bin include nvvm; do ln -s "$wheels/$d" "$cuda_root/$d"; done
    # The linker looks for libX.so; the wheels ship libX.so.N.
    for lib in "$wheels"/lib/*.so.*; do
      name=$(basename "$lib")
      ln -sf "$lib" "$cuda_root/lib64/$name"
      ln -sf "$lib" "$cuda_root/lib64/${name%%.so.*}.so"
    done
    # A link-time stub of the driver library: cudarc's cu* functions, empty.
    # The cudarc that Cargo.lock pins (cargo metadata fetches it if needed).
    manifest=$(cargo metadata --format-version 1 --features cuda 2>/dev/null |
      python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc"))')
    sys=$(dirname "$manifest")/src/driver/sys/mod.rs
    grep -o 'fn cu[A-Za-z0-9_]*(' "$sys" | sort -u | sed 's/fn \(.*\)(/void \1(void) {}/' \
      >"$cuda_root/lib64/stubs/libcuda.c"
    gcc -shared -fPIC -o "$cuda_root/lib64/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 \
      "$cuda_root/lib64/stubs/libcuda.c"
  fi
fi

export PATH=$cuda_root/bin:$PATH CUDA_ROOT=$cuda_root CUDA_PATH=$cuda_root CUDA_COMPUTE_CAP=$cap
export LIBRARY_PATH=$cuda_root/lib64:$cuda_root/lib64/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}
nvcc --version | tail -1
time cargo build --release --features cuda --target-dir "target/cuda-$cap"
echo "built target/cuda-$cap/release/collapse-lab (CUDA $(nvcc --version | grep -o 'release [0-9.]*'), compute capability $cap)"
