#!/usr/bin/env bash
# client-venv.sh - a Python virtual environment with the official `ollama`, `openai` and
# `anthropic` client packages, for the compatibility tests, and llama.cpp's `gguf` writer (with
# numpy), for the test that writes a synthetic vision projector; in the cache outside the
# repository. Prints the path of its python. Created once; recreated when the pinned versions change.
#
#   scripts/client-venv.sh            # prints .../client-venv/bin/python
#   ROLLAMA_CACHE=/some/dir scripts/client-venv.sh
set -euo pipefail

CACHE=${ROLLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollama}
VENV="$CACHE/client-venv"
PACKAGES=("ollama>=0.6,<0.7" "openai>=1.66,<3" "anthropic>=0.40,<1" "gguf>=0.17,<1" "numpy>=1.26,<3")
STAMP="$VENV/.packages"
WANT="${PACKAGES[*]}"

if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  echo "$VENV/bin/python"
  exit 0
fi

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "Error: python3 is needed for the client tests" >&2; exit 1; }
mkdir -p "$CACHE"
rm -rf "$VENV"
"$PY" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
echo "$WANT" >"$STAMP"
echo "$VENV/bin/python"
