#!/usr/bin/env bash
# protocols.sh - what each protocol adapter costs over the native API, on one rollama server:
# the same greedy streamed chat (same prompt, same tokens) through /api/chat (NDJSON),
# /v1/chat/completions, /v1/messages and /v1/responses (SSE), alternately, reporting each
# protocol's generation tokens/s, time to first token and the server process's own CPU time
# per generated token (the runner child, which does the same work for all four, excluded), as
# ratios to the native API.
#
#   benches/protocols.sh                # 2 threads, 8 rounds of 4 requests of 400 tokens
#   ROUNDS=12 TOKENS=256 benches/protocols.sh
#
# Needs a release build (cargo build --release) and the test model (scripts/fetch-model.sh).
# Results go to benches/results/. Never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-8}
TOKENS=${TOKENS:-400}
[ -x target/release/rollama ] || { echo "Error: build first: cargo build --release" >&2; exit 1; }
GGUF=$(scripts/fetch-model.sh)
WORK=$(mktemp -d /tmp/rollama-protocols.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

PORT=18095
export OLLAMA_MODELS="$WORK/models" OLLAMA_HOST="127.0.0.1:$PORT" HOME="$WORK"
target/release/rollama serve >"$WORK/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://$OLLAMA_HOST/api/version" >/dev/null && break; sleep 0.1; done
printf 'FROM %s\nPARAMETER num_thread %s\n' "$GGUF" "$THREADS" >"$WORK/Modelfile"
target/release/rollama create bench -f "$WORK/Modelfile" >/dev/null

mkdir -p benches/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=benches/results/protocols-$STAMP-t$THREADS
python3 - "$OLLAMA_HOST" "$pid" "$ROUNDS" "$TOKENS" "$OUT" <<'EOF'
import json, os, statistics, sys, time, urllib.request

host, pid, rounds, tokens, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
base = f"http://{host}"
ask = [{"role": "user", "content": "Write a long story about a lighthouse keeper and the sea."}]
# Each protocol: path, body, and how to read a streamed line: (is it text?, output tokens or
# None). Lines are told apart by substrings; only the last one is parsed, so the client (on the
# same cores) costs the same for every protocol.
def native(line):
    if '"done":true' in line:
        return False, json.loads(line)["eval_count"]
    return '"content":""' not in line, None
def openai(line):
    if '"usage"' in line and line.startswith("data: {"):
        return False, json.loads(line[6:])["usage"]["completion_tokens"]
    return '"delta":{"role":"assistant","content"' in line, None
def anthropic(line):
    if line.startswith("data: {\"type\":\"message_delta\""):
        return False, json.loads(line[6:])["usage"]["output_tokens"]
    return line.startswith("data: {\"type\":\"content_block_delta\""), None
def responses(line):
    if '"response.completed"' in line and line.startswith("data: "):
        return False, json.loads(line[6:])["response"]["usage"]["output_tokens"]
    return '"response.output_text.delta"' in line and line.startswith("data: "), None
opts = {"temperature": 0, "num_predict": tokens}
cases = {
    "native /api/chat": ("/api/chat", {"model": "bench", "messages": ask, "options": opts}, native),
    "/v1/chat/completions": ("/v1/chat/completions", {"model": "bench", "messages": ask, "stream": True, "temperature": 0, "max_tokens": tokens, "stream_options": {"include_usage": True}}, openai),
    "/v1/messages": ("/v1/messages", {"model": "bench", "messages": ask, "stream": True, "temperature": 0, "max_tokens": tokens}, anthropic),
    "/v1/responses": ("/v1/responses", {"model": "bench", "input": ask, "stream": True, "temperature": 0, "max_output_tokens": tokens}, responses),
}
def cpu_s():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def run(path, body, read):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    t0, c0 = time.perf_counter(), cpu_s()
    ttft, n = None, None
    with urllib.request.urlopen(req, timeout=600) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line:
                continue
            text, count = read(line)
            if text and ttft is None:
                ttft = time.perf_counter() - t0
            if count is not None:
                n = count
    wall = time.perf_counter() - t0
    return {"ttft": ttft, "tokens": n, "tok_s": n / (wall - ttft), "cpu_s": cpu_s() - c0}
run(*cases["native /api/chat"])  # load and warm
results = {k: [] for k in cases}
names = list(cases)
for r in range(rounds):
    order = names if r % 2 == 0 else names[::-1]
    for k in order:
        results[k].append(run(*cases[k]))
counts = {k: {x["tokens"] for x in v} for k, v in results.items()}
base_k = names[0]
med = lambda k, f: statistics.median(x[f] for x in results[k])
# Server CPU is counted in clock ticks (10 ms): summed over every round, per generated token.
cpu = lambda k: 1000 * sum(x["cpu_s"] for x in results[k]) / sum(x["tokens"] for x in results[k])
rows = ["| protocol | tokens | gen tok/s | ratio | TTFT ms | ratio | server CPU ms/token | ratio |", "|---|---|---|---|---|---|---|---|"]
for k in names:
    rows.append(f"| {k} | {sorted(counts[k])} | {med(k,'tok_s'):.1f} | {med(k,'tok_s')/med(base_k,'tok_s'):.2f} | "
                f"{1000*med(k,'ttft'):.0f} | {med(k,'ttft')/med(base_k,'ttft'):.2f} | "
                f"{cpu(k):.3f} | {cpu(k)/max(cpu(base_k),1e-9):.2f} |")
table = "\n".join(rows)
print(table)
open(out + ".md", "w").write(f"{rounds} rounds, alternating order, medians; ratios to native /api/chat\n\n{table}\n")
json.dump(results, open(out + ".json", "w"), indent=1)
EOF
echo "wrote $OUT.md"
