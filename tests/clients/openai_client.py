"""The official `openai` Python client against rollama's /v1 API (run by tests/it/clients.rs).

usage: openai_client.py BASE_URL MODEL
"""
import json
import sys

import openai

base, model = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=f"{base}/v1", api_key="ignored")

# Models.
ids = [m.id for m in client.models.list().data]
assert model in ids, ids
m = client.models.retrieve(model)
assert m.id == model and m.object == "model" and m.owned_by == "library", m
try:
    client.models.retrieve("nope")
    raise AssertionError("unknown model must fail")
except openai.NotFoundError as e:
    assert "not found" in str(e), e

# Chat, whole and streamed.
msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
r = client.chat.completions.create(model=model, messages=msgs, max_tokens=8, seed=1, temperature=0)
assert r.object == "chat.completion" and r.id.startswith("chatcmpl-"), r
assert r.choices[0].message.role == "assistant"
assert r.choices[0].finish_reason in ("stop", "length"), r
assert r.usage.completion_tokens <= 8 and r.usage.prompt_tokens > 0, r.usage
again = client.chat.completions.create(model=model, messages=msgs, max_tokens=8, seed=1, temperature=0)
assert again.choices[0].message.content == r.choices[0].message.content, "seeded answers repeat"

text, reasons, usage = "", [], None
stream = client.chat.completions.create(
    model=model, messages=msgs, max_tokens=8, seed=1, temperature=0, stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    assert chunk.object == "chat.completion.chunk"
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        text += c.delta.content or ""
        if c.finish_reason:
            reasons.append(c.finish_reason)
assert text == r.choices[0].message.content, (text, r.choices[0].message.content)
assert reasons == [r.choices[0].finish_reason], reasons
assert usage is not None and usage.completion_tokens == r.usage.completion_tokens, usage

stopped = client.chat.completions.create(model=model, messages=msgs, max_tokens=8, stop=["\n"], temperature=0)
assert "\n" not in stopped.choices[0].message.content

# Log-probabilities.
lp = client.chat.completions.create(model=model, messages=msgs, max_tokens=4, temperature=0, logprobs=True, top_logprobs=2)
content = lp.choices[0].logprobs.content
assert len(content) == lp.usage.completion_tokens, content
assert "".join(t.token for t in content) == lp.choices[0].message.content
assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in content), content

# Structured output.
r = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "A cat, as JSON."}], max_tokens=300, seed=2,
    response_format={"type": "json_object"},
)
content = r.choices[0].message.content
assert content.startswith("{"), content
if r.choices[0].finish_reason == "stop":
    json.loads(content)
schema = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 10}, "legs": {"type": "integer"}},
    "required": ["name", "legs"],
}
r = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Describe an animal."}], max_tokens=200, seed=3,
    response_format={"type": "json_schema", "json_schema": {"name": "animal", "schema": schema}},
)
animal = json.loads(r.choices[0].message.content)
assert isinstance(animal["name"], str) and isinstance(animal["legs"], int), animal

# Errors in OpenAI's shape.
try:
    client.chat.completions.create(model=model, messages=[])
    raise AssertionError("empty messages must fail")
except openai.BadRequestError as e:
    assert "too short" in str(e), e
try:
    client.chat.completions.create(model="nope", messages=msgs)
    raise AssertionError("unknown model must fail")
except openai.NotFoundError:
    pass

# Completions.
c = client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=4, temperature=0)
assert c.object == "text_completion" and c.id.startswith("cmpl-"), c
assert c.usage.completion_tokens <= 4
streamed = "".join(
    ch.choices[0].text
    for ch in client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=4, temperature=0, stream=True)
    if ch.choices
)
assert streamed == c.choices[0].text, (streamed, c.choices[0].text)
assert c.choices[0].logprobs is None, "logprobs only when asked for"
# logprobs=N: each token with its log-probability and N alternatives, in Ollama's shape
# ({"content": [...]}, as on chat), streamed or whole.
lc = client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=3, temperature=0, logprobs=2)
content = lc.choices[0].logprobs.model_extra["content"]
assert len(content) == lc.usage.completion_tokens, (content, lc.usage)
assert "".join(t["token"] for t in content) == lc.choices[0].text, content
assert all(t["logprob"] <= 0 and len(t["top_logprobs"]) == 2 for t in content), content
streamed_lp = [
    t
    for ch in client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=3, temperature=0, logprobs=2, stream=True)
    if ch.choices and ch.choices[0].logprobs is not None
    for t in ch.choices[0].logprobs.model_extra["content"]
]
assert [t["token"] for t in streamed_lp] == [t["token"] for t in content], streamed_lp
try:
    client.completions.create(model=model, prompt="x", logprobs=21)
    raise AssertionError("top_logprobs above 20 must fail")
except openai.BadRequestError:
    pass

# Embeddings: the client asks for base64 by default and decodes it; floats on request.
e = client.embeddings.create(model=model, input=["hello", "world"])
assert len(e.data) == 2 and len(e.data[0].embedding) == 640, len(e.data)
assert abs(sum(x * x for x in e.data[0].embedding) - 1) < 1e-3
f = client.embeddings.create(model=model, input="hello", encoding_format="float", dimensions=32)
assert len(f.data[0].embedding) == 32
assert e.usage.prompt_tokens > 0
print("openai client: ok")
