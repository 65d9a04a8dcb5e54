"""The official `openai` Python client against rollama's /v1 API (run by tests/it/clients.rs).

usage: openai_client.py BASE_URL MODEL TOOL_MODEL
"""
import json
import sys

import openai

base, model, tool_model = sys.argv[1], sys.argv[2], sys.argv[3]
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

# Responses (stateless), whole and streamed: the same greedy text and counts.
r = client.responses.create(model=model, instructions="Be brief.", input="Say hello.", max_output_tokens=8, temperature=0)
assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_"), r
assert r.output_text and r.output[-1].type == "message", r
assert 0 < r.usage.output_tokens <= 8 and r.usage.input_tokens > 0, r.usage
events = list(client.responses.create(model=model, instructions="Be brief.", input="Say hello.",
                                      max_output_tokens=8, temperature=0, stream=True))
kinds = [e.type for e in events]
assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed", kinds
assert [e.sequence_number for e in events] == list(range(len(events))), kinds
assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == r.output_text, kinds
assert events[-1].response.output_text == r.output_text, events[-1]
assert events[-1].response.usage.output_tokens == r.usage.output_tokens, events[-1].response.usage
items = client.responses.create(
    model=model, max_output_tokens=8, temperature=0,
    input=[{"role": "system", "content": "Be brief."},
           {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}])
assert items.output_text == r.output_text, (items.output_text, r.output_text)

# Responses with a function tool: the call comes back as a function_call item, and its output
# goes back in as an item.
fn = {"type": "function", "name": "get_weather", "description": "Weather in a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}
where = [{"role": "user", "content": "What is the weather in Paris?"}]
call = client.responses.create(model=tool_model, input=where, tools=[fn], tool_choice="required", max_output_tokens=60, temperature=0)
calls = [o for o in call.output if o.type == "function_call"]
assert len(calls) == 1 and calls[0].name == "get_weather", call.output
assert isinstance(json.loads(calls[0].arguments).get("city"), str), calls[0]
streamed = [e for e in client.responses.create(model=tool_model, input=where, tools=[fn], tool_choice="required",
                                               max_output_tokens=60, temperature=0, stream=True)]
done = [e.item for e in streamed if e.type == "response.output_item.done" and e.item.type == "function_call"]
assert [d.arguments for d in done] == [calls[0].arguments], done
back = where + [{"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": calls[0].arguments},
                {"type": "function_call_output", "call_id": calls[0].call_id, "output": "18 degrees and sunny"}]
answer = client.responses.create(model=tool_model, input=back, tools=[fn], tool_choice="none", max_output_tokens=10)
assert answer.status == "completed" and answer.output_text, answer
try:
    client.responses.create(model=model, input=[{"type": "bogus"}])
    raise AssertionError("an unknown item must fail")
except openai.BadRequestError as e:
    assert "unknown input item type" in str(e), e
print("openai client: ok")
