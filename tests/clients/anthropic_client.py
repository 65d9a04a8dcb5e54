"""The official `anthropic` Python client against rollama's /v1/messages (run by
tests/it/clients.rs).

usage: anthropic_client.py BASE_URL MODEL TOOL_MODEL
"""
import sys

import anthropic

base, model, tool_model = sys.argv[1], sys.argv[2], sys.argv[3]
client = anthropic.Anthropic(base_url=base, api_key="ignored")
ask = [{"role": "user", "content": "Say hello."}]

# Whole, then streamed with the client's helper: the same greedy text and counts.
m = client.messages.create(model=model, max_tokens=8, system="Be brief.", messages=ask, temperature=0)
assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_"), m
assert m.model == model, m
assert m.stop_reason in ("end_turn", "max_tokens"), m
assert 0 < m.usage.output_tokens <= 8 and m.usage.input_tokens > 0, m.usage
text = "".join(b.text for b in m.content if b.type == "text")
assert text, m
with client.messages.stream(model=model, max_tokens=8, system="Be brief.", messages=ask, temperature=0) as s:
    streamed = "".join(s.text_stream)
    final = s.get_final_message()
assert streamed == text, (streamed, text)
assert final.stop_reason == m.stop_reason and final.usage.output_tokens == m.usage.output_tokens, final
assert final.usage.input_tokens == m.usage.input_tokens, final.usage

# The raw event sequence.
kinds = [e.type for e in client.messages.create(model=model, max_tokens=4, messages=ask, temperature=0, stream=True)]
assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"], kinds
assert "content_block_start" in kinds and "content_block_delta" in kinds and "content_block_stop" in kinds, kinds

# System as blocks, stop sequences, the max_tokens stop reason.
blocks = [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]
same = client.messages.create(model=model, max_tokens=8, system=blocks, messages=ask, temperature=0)
assert "".join(b.text for b in same.content if b.type == "text") == text, same
cut = client.messages.create(model=model, max_tokens=2, messages=[{"role": "user", "content": "Count to twenty."}], temperature=0)
assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 2, cut
stopped = client.messages.create(model=model, max_tokens=30, messages=ask, temperature=0, stop_sequences=["\n"])
assert all("\n" not in b.text for b in stopped.content if b.type == "text"), stopped

# Counting tokens (beyond Ollama): the same prompt counts what generation evaluated.
n = client.messages.count_tokens(model=model, system="Be brief.", messages=ask)
assert n.input_tokens == m.usage.input_tokens, (n, m.usage)

# Thinking asked of a model that cannot think is dropped, as Ollama does.
t = client.messages.create(model=model, max_tokens=4, messages=ask, thinking={"type": "enabled", "budget_tokens": 1024})
assert t.content and all(b.type != "thinking" for b in t.content), t

# Tools: tool_choice "any" makes the answer a call (beyond Ollama); its result goes back in.
weather = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}
where = [{"role": "user", "content": "What is the weather in Paris?"}]
call = client.messages.create(model=tool_model, max_tokens=60, tools=[weather], tool_choice={"type": "any"}, messages=where, temperature=0)
assert call.stop_reason == "tool_use", call
use = [b for b in call.content if b.type == "tool_use"]
assert len(use) == 1 and use[0].name == "get_weather" and isinstance(use[0].input.get("city"), str), call
with client.messages.stream(model=tool_model, max_tokens=60, tools=[weather], tool_choice={"type": "any"}, messages=where, temperature=0) as s:
    streamed_call = s.get_final_message()
assert streamed_call.stop_reason == "tool_use", streamed_call
assert [b.input for b in streamed_call.content if b.type == "tool_use"] == [use[0].input], streamed_call
back = where + [
    {"role": "assistant", "content": [{"type": "tool_use", "id": use[0].id, "name": "get_weather", "input": use[0].input}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use[0].id, "content": "18 degrees and sunny"}]},
]
answer = client.messages.create(model=tool_model, max_tokens=10, tools=[weather], tool_choice={"type": "none"}, messages=back)
assert answer.stop_reason in ("end_turn", "max_tokens") and answer.content, answer

# Errors in Anthropic's shape.
try:
    client.messages.create(model="nope", max_tokens=5, messages=ask)
    raise AssertionError("unknown model must fail")
except anthropic.NotFoundError as e:
    assert e.body["type"] == "error" and e.body["error"]["type"] == "not_found_error", e.body
try:
    client.messages.create(model=model, max_tokens=0, messages=ask)
    raise AssertionError("max_tokens 0 must fail")
except anthropic.BadRequestError as e:
    assert e.body["error"]["message"] == "max_tokens is required and must be positive", e.body
print("anthropic client: ok")
