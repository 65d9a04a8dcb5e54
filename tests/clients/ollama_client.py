"""The official `ollama` Python client against rollama's native API (run by tests/it/clients.rs).

usage: ollama_client.py BASE_URL MODEL
"""
import asyncio
import sys

import ollama

base, model = sys.argv[1], sys.argv[2]
client = ollama.Client(host=base)

names = [m.model for m in client.list().models]
assert model in names, names
info = client.show(model)
assert info.details.family == "gemma3", info.details
assert "completion" in info.capabilities, info.capabilities
assert info.modelinfo["general.architecture"] == "gemma3"

r = client.generate(model=model, prompt="Why is the sky blue?", options={"num_predict": 8, "temperature": 0})
assert r.done and r.done_reason == "length" and r.eval_count == 8, r
assert r.context, "generate returns a context"
parts = list(client.generate(model=model, prompt="Why is the sky blue?", stream=True,
                             options={"num_predict": 8, "temperature": 0}))
assert "".join(p.response for p in parts) == r.response
assert parts[-1].done

messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a fruit."}]
c = client.chat(model=model, messages=messages, options={"num_predict": 8, "temperature": 0})
assert c.message.role == "assistant" and c.done, c
chunks = list(client.chat(model=model, messages=messages, stream=True, options={"num_predict": 8, "temperature": 0}))
assert "".join(x.message.content for x in chunks) == c.message.content

e = client.embed(model=model, input=["first text", "second text"])
assert len(e.embeddings) == 2 and len(e.embeddings[0]) == 640
legacy = client.embeddings(model=model, prompt="first text")
assert abs(sum(a * b for a, b in zip(legacy.embedding, e.embeddings[0])) - 1) < 1e-3

running = client.ps().models
assert [m.model for m in running] == [model], running
assert running[0].size > 0 and running[0].size_vram == 0

client.copy(model, "copied/model:v1")
assert "copied/model:v1" in [m.model for m in client.list().models]
client.delete("copied/model:v1")
assert "copied/model:v1" not in [m.model for m in client.list().models]
try:
    client.show("nope")
    raise AssertionError("unknown model must fail")
except ollama.ResponseError as err:
    assert err.status_code == 404, err


async def concurrent():
    ac = ollama.AsyncClient(host=base)
    prompts = ["One, two,", "Red, green,", "Monday, Tuesday,", "A, B,"]
    answers = await asyncio.gather(*[
        ac.generate(model=model, prompt=p, raw=True, options={"num_predict": 6, "temperature": 0})
        for p in prompts
    ])
    for p, a in zip(prompts, answers):
        assert a.done and a.eval_count > 0, (p, a)
    alone = await ac.generate(model=model, prompt=prompts[0], raw=True, options={"num_predict": 6, "temperature": 0})
    assert alone.response[:4] == answers[0].response[:4], (alone.response, answers[0].response)


asyncio.run(concurrent())
print("ollama client: ok")
