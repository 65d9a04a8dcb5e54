#!/usr/bin/env bash
# test.sh - the whole test suite on a machine that may be brand new: installs what the tests
# need when it is missing (Debian packages, the test model, the Python client venv), then runs
# `cargo test --release --locked` with any arguments given (a filter, `-- --nocapture`), built
# as install.sh builds (RUSTFLAGS from scripts/rustflags.sh unless set).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh --test it repl  # one group
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
pkgs=(cmake build-essential libclang-dev tmux procps python3 python3-pip python3-venv docker-registry openssh-client openssl systemd prometheus)
missing=()
# "install ok installed" only: a removed package whose config files remain is still known to dpkg.
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The test model, into the cache outside the repository (verified by sha256).
scripts/fetch-model.sh
# The official ollama and openai Python clients, in a venv in the same cache.
scripts/client-venv.sh >/dev/null

# The build CI tests is the one install.sh makes: this CPU's best kernels (scripts/rustflags.sh).
if [ -z "${RUSTFLAGS+set}" ]; then
  RUSTFLAGS=$(scripts/rustflags.sh)
  export RUSTFLAGS
fi
echo "RUSTFLAGS=$RUSTFLAGS"
exec cargo test --release --locked "$@"
