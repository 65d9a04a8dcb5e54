#!/usr/bin/env python3
"""turns.py - what bench.py does not measure, rollama against llama-server, alternately (A B A B).

  * second-turn TTFT: a ~1,000-token history, then the next turn over it (history + answer +
    a new question): time to first token of each, so the prompt cache shows as turn2/turn1;
  * embeddings: texts per second, 32 texts per request, and the peak RSS of the server doing
    them (a fresh server for each side, so generation memory is not counted);
  * cold start: `rollama run MODEL PROMPT` on a model that is not loaded, command to first
    byte of output (rollama only: llama-server has no client).

Stdlib only. Called by compare.sh, which starts the servers; prints a markdown table and
writes JSON. Specs are `label=...,style=ollama|llama,url=...,model=...[,pid=N]`.
"""
import argparse
import json
import os
import statistics
import subprocess
import time
import urllib.request

HISTORY = " ".join(
    [
        "The river town kept its records in a long stone hall beside the market.",
        "Every spring the clerks counted the boats, the nets and the barrels of salt fish,",
        "and every autumn they counted them again to see what the summer had cost.",
        "The old harbour master, who had served for forty years, wrote each number twice,",
        "once in the ledger and once on a slate that hung by the door for anyone to read.",
    ]
    * 12
)


def post(url, body, stream=False):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=600)


def stream_ttft(spec, prompt, n_predict):
    """(ttft seconds, generated text) of one streamed raw completion."""
    t0 = time.perf_counter()
    ttft = None
    text = []
    if spec["style"] == "ollama":
        options = {"temperature": 0, "num_predict": n_predict}
        if spec.get("num_ctx"):
            options["num_ctx"] = int(spec["num_ctx"])
        body = {"model": spec["model"], "prompt": prompt, "raw": True, "stream": True, "options": options}
        with post(spec["url"] + "/api/generate", body) as r:
            for line in r:
                d = json.loads(line)
                if d.get("response"):
                    ttft = ttft or time.perf_counter() - t0
                    text.append(d["response"])
    else:
        body = {"prompt": prompt, "stream": True, "temperature": 0, "n_predict": n_predict, "cache_prompt": True}
        with post(spec["url"] + "/completion", body) as r:
            for line in r:
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                d = json.loads(line[5:])
                if d.get("content"):
                    ttft = ttft or time.perf_counter() - t0
                    text.append(d["content"])
    return ttft or time.perf_counter() - t0, "".join(text)


def second_turn(spec, tag):
    first = f"[{tag}] {HISTORY}\n\nQuestion: what did the clerks count?\nAnswer:"
    t1, answer = stream_ttft(spec, first, 16)
    second = first + answer + "\n\nQuestion: who wrote each number twice?\nAnswer:"
    t2, _ = stream_ttft(spec, second, 16)
    return {"turn1_ttft_ms": round(t1 * 1000, 1), "turn2_ttft_ms": round(t2 * 1000, 1),
            "turn2_over_turn1": round(t2 / t1, 3)}


def tree(pid):
    pids = [pid]
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    kids = {}
    for line in out.split("\n"):
        if line.strip():
            p, pp = map(int, line.split())
            kids.setdefault(pp, []).append(p)
    i = 0
    while i < len(pids):
        pids += kids.get(pids[i], [])
        i += 1
    return pids


def vmhwm_mb(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def embed(spec, reps):
    texts = [f"Sentence {i}: the harbour master counted {i} boats before the autumn storms." for i in range(32)]
    if spec["style"] == "ollama":
        url, body = spec["url"] + "/api/embed", {"model": spec["model"], "input": texts}
    else:
        url, body = spec["url"] + "/v1/embeddings", {"model": spec["model"], "input": texts}
    post(url, body).read()  # load / warm
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        d = json.load(post(url, body))
        times.append(time.perf_counter() - t0)
        n = len(d.get("embeddings") or d.get("data") or [])
        assert n == 32, f"{spec['label']}: {n} embeddings"
    best = min(times)
    return {"texts_per_s": round(32 / statistics.median(times), 1), "texts_per_s_best": round(32 / best, 1),
            "peak_rss_mb": vmhwm_mb(int(spec["pid"])) if spec.get("pid") else None}


def cold_start(binary, host, model, env):
    """Seconds from spawning `rollama run` to its first byte of output (model not loaded)."""
    e = dict(os.environ, **env, OLLAMA_HOST=host)
    subprocess.run([binary, "stop", model], env=e, capture_output=True)
    time.sleep(0.5)
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "run", model, "--nowordwrap", "Hello"], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.stdout.read(1)
    t = time.perf_counter() - t0
    p.kill()
    p.wait()
    return round(t, 3)


def parse_spec(s):
    return dict(kv.split("=", 1) for kv in s.split(","))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", nargs=2, metavar="SPEC", required=True, help="A and B generation servers")
    ap.add_argument("--embed", nargs=2, metavar="SPEC", help="A and B embedding servers")
    ap.add_argument("--cold", help="BINARY,HOST,MODEL: rollama's cold start")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--embed-reps", type=int, default=5)
    ap.add_argument("--json-out")
    args = ap.parse_args()
    a, b = (parse_spec(s) for s in args.gen)
    res = {a["label"]: {"turns": [], "embed": []}, b["label"]: {"turns": [], "embed": []}}
    stamp = int(time.time())
    for r in range(args.rounds):
        for spec in (a, b):
            res[spec["label"]]["turns"].append(second_turn(spec, f"{stamp}-{r}-{spec['label']}"))
    if args.embed:
        ea, eb = (parse_spec(s) for s in args.embed)
        for r in range(args.rounds):
            for spec in (ea, eb):
                res[spec["label"]]["embed"].append(embed(spec, args.embed_reps))
    cold = []
    if args.cold:
        binary, host, model = args.cold.split(",")
        cold = [cold_start(binary, host, model, {}) for _ in range(3)]

    def med(label, part, key):
        vals = [x[key] for x in res[label][part] if x.get(key) is not None]
        return statistics.median(vals) if vals else None

    rows = [("turns", "turn1_ttft_ms", "lower"), ("turns", "turn2_ttft_ms", "lower"),
            ("turns", "turn2_over_turn1", "lower")]
    if args.embed:
        rows += [("embed", "texts_per_s", "higher"), ("embed", "peak_rss_mb", "lower")]
    out = [f"## turns: A={a['label']}  B={b['label']}  ({args.rounds} rounds, alternated)", "",
           "| metric | better | A median | B median | B/A |", "|---|---|---|---|---|"]
    for part, key, better in rows:
        va, vb = med(a["label"], part, key), med(b["label"], part, key)
        ratio = round(vb / va, 3) if va and vb else ""
        out.append(f"| {part}.{key} | {better} | {va} | {vb} | {ratio} |")
    if cold:
        out.append(f"| cold_start_s ({b['label']} run) | lower | | {statistics.median(cold)} | |")
    res["cold_start_s"] = cold
    print("\n".join(out))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(res, f, indent=1)
        with open(args.json_out.replace(".json", ".md"), "w") as f:
            f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
