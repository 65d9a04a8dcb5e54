#!/usr/bin/env bash
# rustflags.sh - the RUSTFLAGS that build llama.cpp with this machine's best CPU kernels, as
# install.sh and scripts/test.sh use them. llama-cpp-sys-2 turns rustc's target CPU and
# features into llama.cpp's (-march=..., GGML_AVX2, GGML_AVX512_VNNI...); a plain `cargo build`
# targets baseline x86-64 (SSE2 only).
#
# On x86-64 it names the highest x86-64 level the CPU has (v4: AVX-512, v3: AVX2/FMA, v2) plus
# the AVX-512/AVX VNNI, BF16 and VBMI extensions it has. Not `target-cpu=native`: that also
# turns on llama.cpp's AMX kernels, which crash with SIGSEGV (ldtilecfg) where the kernel or a
# hypervisor does not grant AMX state, as on this project's machines. Elsewhere: native.
#
#   scripts/rustflags.sh                 # e.g. -C target-cpu=x86-64-v4 -C target-feature=+avx512vnni
#   ROLLAMA_PORTABLE=1 scripts/rustflags.sh   # nothing: a baseline build for any x86-64 CPU
set -euo pipefail

if [ -n "${ROLLAMA_PORTABLE:-}" ]; then
  exit 0
fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "-C target-cpu=native"
  exit 0
fi
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { local f; for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }

extra=()
if has avx512f avx512bw avx512cd avx512dq avx512vl avx2 fma bmi2 movbe; then
  level=x86-64-v4
  has avx512_vnni && extra+=(+avx512vnni)
  has avx512_bf16 && extra+=(+avx512bf16)
  has avx512vbmi && extra+=(+avx512vbmi)
elif has avx avx2 bmi1 bmi2 f16c fma movbe xsave; then
  level=x86-64-v3
elif has sse4_2 ssse3 popcnt cx16; then
  level=x86-64-v2
else
  exit 0
fi
has avx_vnni && extra+=(+avxvnni)
if [ ${#extra[@]} -gt 0 ]; then
  echo "-C target-cpu=$level -C target-feature=$(IFS=,; echo "${extra[*]}")"
else
  echo "-C target-cpu=$level"
fi
