#!/usr/bin/env bash
# install.sh - build rollama, install it, and create the starter model.
#
#   ./install.sh                 # system packages, release build, binary on PATH, starter model
#   ./install.sh --no-model      # skip the starter model
#   ./install.sh --systemd       # also install and enable a systemd service (root only)
#
# PREFIX (default /usr/local when writable, else ~/.local) chooses where the binary, shell
# completions and man pages go. The starter model's GGUF is fetched and verified by
# scripts/fetch-model.sh into ~/.cache/rollama (outside the repository).
set -euo pipefail
cd "$(dirname "$0")"

MODEL=1
SYSTEMD=0
for arg in "$@"; do
  case "$arg" in
    --no-model) MODEL=0 ;;
    --systemd) SYSTEMD=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "Error: unknown option $arg" >&2; exit 1 ;;
  esac
done

say() { printf '==> %s\n' "$*" >&2; }

# 1. System packages: a C/C++ toolchain, cmake and libclang build llama.cpp.
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v c++ >/dev/null || need+=(build-essential)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || ls /usr/lib/*/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "Error: cargo is needed; install Rust from https://rustup.rs" >&2; exit 1; }

# 2. Release build (llama.cpp is compiled once; a few minutes on 2 cores).
say "building rollama (release)"
cargo build --release --locked

# 3. Install the binary, completions and man pages.
if [ -z "${PREFIX:-}" ]; then
  if [ -w /usr/local/bin ]; then PREFIX=/usr/local; else PREFIX="$HOME/.local"; fi
fi
say "installing into $PREFIX"
install -d "$PREFIX/bin"
install -m 0755 target/release/rollama "$PREFIX/bin/rollama"
if [ -f completions/rollama.bash ]; then
  install -d "$PREFIX/share/bash-completion/completions" "$PREFIX/share/zsh/site-functions" "$PREFIX/share/fish/vendor_completions.d"
  install -m 0644 completions/rollama.bash "$PREFIX/share/bash-completion/completions/rollama"
  install -m 0644 completions/_rollama "$PREFIX/share/zsh/site-functions/_rollama"
  install -m 0644 completions/rollama.fish "$PREFIX/share/fish/vendor_completions.d/rollama.fish"
fi
if compgen -G "man/*.1" >/dev/null; then
  install -d "$PREFIX/share/man/man1"
  install -m 0644 man/*.1 "$PREFIX/share/man/man1/"
fi
BIN="$PREFIX/bin/rollama"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) say "add $PREFIX/bin to your PATH" ;; esac

# 4. Optional systemd service.
if [ "$SYSTEMD" = 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "Error: --systemd needs root" >&2; exit 1; }
  say "installing systemd service rollama.service"
  cat > /etc/systemd/system/rollama.service <<UNIT
[Unit]
Description=rollama service
After=network-online.target

[Service]
ExecStart=$BIN serve
Environment="HOME=/root"
Restart=always
RestartSec=3

[Install]
WantedBy=default.target
UNIT
  systemctl daemon-reload && systemctl enable --now rollama.service
fi

# 5. Starter model gemma3-base:270m, created from the verified GGUF with Gemma's template.
if [ "$MODEL" = 1 ]; then
  say "fetching the starter model"
  gguf=$(scripts/fetch-model.sh)
  dir=$(dirname "$gguf")
  cp models/gemma3-base.Modelfile "$dir/Modelfile"
  started=""
  if ! "$BIN" list >/dev/null 2>&1; then
    "$BIN" serve >"$dir/install-serve.log" 2>&1 &
    started=$!
    for _ in $(seq 100); do "$BIN" list >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  say "creating gemma3-base:270m"
  "$BIN" create gemma3-base:270m -f "$dir/Modelfile"
  [ -n "$started" ] && kill "$started" && wait "$started" 2>/dev/null || true
fi
say "done: run 'rollama serve' and then 'rollama run gemma3-base:270m \"Why is the sky blue?\"'"
