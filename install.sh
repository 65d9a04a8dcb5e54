#!/usr/bin/env bash
# install.sh - build rollama, install it, and create the starter model.
#
#   ./install.sh                 # system packages, release build, binary on PATH, starter model
#   ./install.sh --no-model      # skip the starter model
#   ./install.sh --systemd       # also run it as a service (root only): a `rollama` system
#                                # user, the store in /var/lib/rollama, a hardened
#                                # rollama.service, enabled and started; the starter model
#                                # goes into that store
#   ./install.sh --uninstall     # remove what an install put in place: the binary, completions,
#                                # man pages, and (as root) the service and its user; the store
#                                # /var/lib/rollama is kept unless --purge is given too
#   ./install.sh --print-unit    # print the systemd unit --systemd would install, and exit
#   ./install.sh -h | --help     # this text
#
# Running it again is safe: it rebuilds, reinstalls and leaves an existing user and store as
# they are. PREFIX (default /usr/local when writable, else ~/.local) chooses where the binary,
# shell completions and man pages go. The build uses this CPU's best kernels
# (scripts/rustflags.sh); ROLLAMA_PORTABLE=1 makes one binary for any x86-64 CPU instead
# (slower prompts). The starter model's GGUF is fetched and verified by
# scripts/fetch-model.sh into ~/.cache/rollama (outside the repository). The service reads
# extra settings (OLLAMA_HOST, ROLLAMA_API_KEYS...) from /etc/rollama/rollama.env if present.
set -euo pipefail
cd "$(dirname "$0")"

MODEL=1
SYSTEMD=0
UNINSTALL=0
PURGE=0
PRINT_UNIT=0
for arg in "$@"; do
  case "$arg" in
    --no-model) MODEL=0 ;;
    --systemd) SYSTEMD=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    --print-unit) PRINT_UNIT=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "Error: unknown option $arg (see --help)" >&2; exit 1 ;;
  esac
done

say() { printf '==> %s\n' "$*" >&2; }

if [ -z "${PREFIX:-}" ]; then
  if [ -w /usr/local/bin ]; then PREFIX=/usr/local; else PREFIX="$HOME/.local"; fi
fi
BIN="$PREFIX/bin/rollama"
STATE=/var/lib/rollama
UNIT=/etc/systemd/system/rollama.service

# The service: its own unprivileged user, the store under /var/lib/rollama and nothing else
# writable, a clean stop (SIGTERM, then up to 30 s for streams to end) and a restart on failure.
render_unit() {
  cat <<UNIT
[Unit]
Description=rollama: local LLM server with Ollama's API
Documentation=man:rollama(1)
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
User=rollama
Group=rollama
ExecStart=$BIN serve
ExecReload=/bin/kill -HUP \$MAINPID
Environment=HOME=$STATE
Environment=OLLAMA_MODELS=$STATE/models
EnvironmentFile=-/etc/rollama/rollama.env
Restart=always
RestartSec=3
TimeoutStopSec=30
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
ReadWritePaths=$STATE

[Install]
WantedBy=multi-user.target
UNIT
}

if [ "$PRINT_UNIT" = 1 ]; then
  render_unit
  exit 0
fi

if [ "$UNINSTALL" = 1 ]; then
  # The service and its user exist only if --systemd made them (the unit says so).
  if [ -f "$UNIT" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "Error: removing the service needs root" >&2; exit 1; }
    say "removing rollama.service"
    systemctl disable --now rollama.service 2>/dev/null || true
    rm -f "$UNIT"
    systemctl daemon-reload 2>/dev/null || true
    if id rollama >/dev/null 2>&1; then
      say "removing the rollama user"
      userdel rollama 2>/dev/null || true
    fi
  fi
  if [ "$PURGE" = 1 ] && [ -d "$STATE" ]; then
    say "removing the service's store $STATE"
    rm -rf "$STATE"
  fi
  say "removing rollama from $PREFIX"
  rm -f "$BIN" "$PREFIX/share/bash-completion/completions/rollama" \
    "$PREFIX/share/zsh/site-functions/_rollama" "$PREFIX/share/fish/vendor_completions.d/rollama.fish"
  for page in man/*.1; do rm -f "$PREFIX/share/man/man1/$(basename "$page")"; done
  say "done"
  exit 0
fi
[ "$SYSTEMD" = 0 ] || [ "$(id -u)" -eq 0 ] || { echo "Error: --systemd needs root" >&2; exit 1; }

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

# 2. Release build (llama.cpp is compiled once; a few minutes on 2 cores), with this CPU's
# best kernels (scripts/rustflags.sh; ROLLAMA_PORTABLE=1 builds for any x86-64 instead). A
# RUSTFLAGS already set, even empty, is used as it is.
if [ -z "${RUSTFLAGS+set}" ]; then
  RUSTFLAGS=$(scripts/rustflags.sh)
  export RUSTFLAGS
fi
say "building rollama (release${RUSTFLAGS:+, $RUSTFLAGS})"
cargo build --release --locked

# 3. Install the binary, completions and man pages.
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
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) say "add $PREFIX/bin to your PATH" ;; esac

# 4. Optional systemd service: user, store, unit, started.
if [ "$SYSTEMD" = 1 ]; then
  if ! id rollama >/dev/null 2>&1; then
    say "creating the rollama system user"
    useradd --system --user-group --home-dir "$STATE" --shell /usr/sbin/nologin rollama
  fi
  install -d -o rollama -g rollama -m 0750 "$STATE" "$STATE/models"
  say "installing $UNIT"
  render_unit > "$UNIT"
  systemctl daemon-reload && systemctl enable --now rollama.service
  systemctl restart rollama.service
  export OLLAMA_MODELS="$STATE/models"
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
