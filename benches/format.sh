#!/usr/bin/env bash
# format.sh - what grammar-constrained decoding (`format`) costs: generation speed of the same
# requests with and without `format` ("json", and a JSON schema), on one rollama server, run
# alternately and reported as ratios (constrained / free). Timing lives here, never in tests.
#
#   benches/format.sh                      # 2 threads, 3 rounds, 128 tokens per request
#   THREADS=1 ROUNDS=5 N=256 benches/format.sh
#
# Needs a release build (cargo build --release) and the test model (scripts/fetch-model.sh).
# Results go to benches/results/format-<stamp>-t<THREADS>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
N=${N:-128}
PORT=${PORT:-18095}
[ -x target/release/rollama ] || { echo "Error: build first: cargo build --release" >&2; exit 1; }
GGUF=$(scripts/fetch-model.sh)

WORK=$(mktemp -d /tmp/rollama-format.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/src"
ln -s "$GGUF" "$WORK/src/model.gguf"
printf 'FROM ./model.gguf\nPARAMETER num_thread %s\n' "$THREADS" >"$WORK/src/Modelfile"
OLLAMA_HOST=127.0.0.1:$PORT OLLAMA_MODELS=$WORK/models HOME=$WORK/home OLLAMA_KEEP_ALIVE=-1 \
  target/release/rollama serve >"$WORK/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.2; done
OLLAMA_HOST=127.0.0.1:$PORT HOME=$WORK/home target/release/rollama create bench -f "$WORK/src/Modelfile" >/dev/null 2>&1

mkdir -p benches/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="benches/results/format-$stamp-t$THREADS.md"
python3 - "$PORT" "$ROUNDS" "$N" "$THREADS" "$out" <<'PY'
import json, statistics, sys, urllib.request
port, rounds, n, threads, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
url = f"http://127.0.0.1:{port}/api/generate"
schema = {"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer"}, "hobbies": {"type": "array", "items": {"type": "string"}},
    "bio": {"type": "string"}}, "required": ["name", "age", "hobbies", "bio"]}
prompt = "Write a detailed profile of a fictional person, as JSON."
formats = {"free": None, "json": "json", "schema": schema}

def run(fmt, temp, seed):
    body = {"model": "bench", "prompt": prompt, "stream": False,
            "options": {"temperature": temp, "num_predict": n, "seed": seed}}
    if fmt is not None:
        body["format"] = fmt
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    r = json.load(urllib.request.urlopen(req, timeout=600))
    return r["eval_count"] / (r["eval_duration"] / 1e9), r["eval_count"]

run(None, 0, 0)  # load and warm up
rows = []
for temp in (0.0, 0.8):
    speeds = {k: [] for k in formats}
    tokens = {k: [] for k in formats}
    for rnd in range(rounds):
        for k, fmt in formats.items():
            tps, count = run(fmt, temp, rnd + 1)
            speeds[k].append(tps)
            tokens[k].append(count)
    free = statistics.median(speeds["free"])
    for k in formats:
        med = statistics.median(speeds[k])
        rows.append(f"| {temp} | {k} | {med:.1f} | {statistics.median(tokens[k]):.0f} | {med / free:.3f} |")
text = "\n".join([
    f"## format: grammar-constrained vs free generation (rollama, {threads} threads, {rounds} rounds, up to {n} tokens)",
    "",
    "| temperature | format | gen tok/s (median) | tokens (median) | ratio to free |",
    "|---|---|---|---|---|",
    *rows, ""])
print(text)
open(out, "w").write(text)
PY
echo "wrote $out"
