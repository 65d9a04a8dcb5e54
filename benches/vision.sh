#!/usr/bin/env bash
# vision.sh - what an image request costs: the encode time per image (from the runner's
# `image encoded` log lines, each image new so none comes from the prompt cache), the time to
# first token of an image request against the same request without the image, and the
# runner's resident memory with the projector loaded against the text model alone.
#
#   benches/vision.sh                          # the test model with the synthetic projector
#   GGUF=/m/gemma3-4b.gguf PROJECTOR=/m/mmproj.gguf IMAGE_SIZE=896 benches/vision.sh
#
# The default projector is the tests' synthetic one (a tiny random ViT, 4 tokens an image), so
# its numbers measure rollama's plumbing, not a real encoder; give a real model and projector
# for real ones. Needs a release build and the Python venv of scripts/client-venv.sh.
# Results go to benches/results/. Never part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
IMAGES=${IMAGES:-12}
IMAGE_SIZE=${IMAGE_SIZE:-224}
[ -x target/release/rollama ] || { echo "Error: build first: cargo build --release" >&2; exit 1; }
PY=$(scripts/client-venv.sh)
GGUF=${GGUF:-$(scripts/fetch-model.sh)}
WORK=$(mktemp -d /tmp/rollama-vision.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PROJECTOR=${PROJECTOR:-}
if [ -z "$PROJECTOR" ]; then
  PROJECTOR=$WORK/mmproj.gguf
  "$PY" tests/vision/make_projector.py "$PROJECTOR"
fi

PORT=18096
export OLLAMA_MODELS="$WORK/models" OLLAMA_HOST="127.0.0.1:$PORT" HOME="$WORK" OLLAMA_DEBUG=1
target/release/rollama serve >"$WORK/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://$OLLAMA_HOST/api/version" >/dev/null && break; sleep 0.1; done
printf 'FROM %s\nPARAMETER num_thread %s\nPARAMETER num_predict 1\n' "$GGUF" "$THREADS" >"$WORK/text.Modelfile"
printf 'FROM %s\nFROM %s\nPARAMETER num_thread %s\nPARAMETER num_predict 1\n' "$GGUF" "$PROJECTOR" "$THREADS" >"$WORK/vision.Modelfile"
target/release/rollama create text -f "$WORK/text.Modelfile" >/dev/null 2>&1
target/release/rollama create vision -f "$WORK/vision.Modelfile" >/dev/null 2>&1

mkdir -p benches/results
OUT=benches/results/vision-$(date -u +%Y%m%dT%H%M%SZ)-t$THREADS
"$PY" - "$OLLAMA_HOST" "$pid" "$IMAGES" "$IMAGE_SIZE" "$WORK/serve.log" "$OUT" <<'PYEOF'
import base64, json, os, re, statistics, struct, subprocess, sys, time, urllib.request, zlib

host, server, n, size, log, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]

def png(seed):
    raw = b"".join(
        b"\x00" + bytes(v for x in range(size)
                         for v in ((x * 7 + y * 3 + seed * 31) % 256, (x ^ y ^ seed) % 256, (seed * 50 + y) % 256))
        for y in range(size))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def chat(model, image=None):
    msg = {"role": "user", "content": "What is in this picture?"}
    if image:
        msg["images"] = [base64.b64encode(image).decode()]
    body = {"model": model, "messages": [msg], "stream": True, "options": {"temperature": 0}}
    req = urllib.request.Request(f"http://{host}/api/chat", json.dumps(body).encode(), {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as r:
        first = None
        for line in r:
            if first is None:
                first = time.perf_counter() - t0
    return first

def rss_of_runners():
    kids = subprocess.run(["pgrep", "-P", str(server)], capture_output=True, text=True).stdout.split()
    out = {}
    for k in kids:
        for line in open(f"/proc/{k}/status"):
            if line.startswith("VmRSS:"):
                out[k] = int(line.split()[1]) * 1024
    return out

chat("text"); text_rss = rss_of_runners()
chat("vision", png(0)); both = rss_of_runners()
vision_rss = {k: v for k, v in both.items() if k not in text_rss}
ttft_text, ttft_image = [], []
for i in range(1, n + 1):
    ttft_text.append(chat("vision"))
    ttft_image.append(chat("vision", png(i)))
ms = [int(m) for m in re.findall(r'image encoded.*?ms=(\d+)', open(log).read())]
rows = [
    f"images: {n} new {size}x{size} PNGs; medians",
    "",
    "| measure | value |",
    "|---|---|",
    f"| encode time per image (runner log) | {statistics.median(ms[1:] or ms)} ms |",
    f"| TTFT, same request without the image | {1000 * statistics.median(ttft_text):.0f} ms |",
    f"| TTFT with a new image | {1000 * statistics.median(ttft_image):.0f} ms |",
    f"| runner RSS, text model alone | {sum(text_rss.values()) / 1e6:.0f} MB |",
    f"| runner RSS, with the projector | {sum(vision_rss.values()) / 1e6:.0f} MB |",
]
table = "\n".join(rows)
print(table)
open(out + ".md", "w").write(table + "\n")
json.dump({"encode_ms": ms, "ttft_text": ttft_text, "ttft_image": ttft_image,
           "rss_text": text_rss, "rss_vision": vision_rss}, open(out + ".json", "w"), indent=1)
PYEOF
echo "wrote $OUT.md"
