"""Images, tool calls, tool results and thinking in both wire formats, against the strict fake server."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from devtools.fakes.llm_server import FakeLLMServer, FakeToolCall, Reply
from services.llm.base import (
    GenerationOptions,
    ImagePart,
    Message,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    Timeouts,
    ToolCall,
    ToolCalls,
    ToolSpec,
)
from services.llm.errors import BadRequest
from services.llm.ollama import OllamaProvider
from services.llm.openai_compat import OpenAICompatProvider

RELAXED = Timeouts(connect=2, first_token=5, token_gap=5, total=20)
SEARCH = ToolSpec("web_search", "Search the web.", {"type": "object", "properties": {"query": {"type": "string"}},
                                                     "required": ["query"]})


def png(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


def ollama(session, server: FakeLLMServer, model: str = "llama3.2") -> OllamaProvider:
    return OllamaProvider(session, server.url, model, options=GenerationOptions(), timeouts=RELAXED)


def openai(session, server: FakeLLMServer, model: str = "gpt-4o-mini", name: str = "openai") -> OpenAICompatProvider:
    return OpenAICompatProvider(session, name, server.openai_url, model, options=GenerationOptions(),
                                timeouts=RELAXED)


async def collect(provider, messages, **kwargs) -> list:
    return [event async for event in provider.stream(messages, **kwargs)]


def history_with_a_tool_round(call_id: str) -> list[Message]:
    call = ToolCall(call_id, "web_search", {"query": "moon distance"})
    return [Message("user", "How far is the Moon?", "Ann"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "[1] Moon (https://example.org/moon)\n384,400 km", tool_call_id=call_id,
                    tool_name="web_search")]


async def test_ollama_sends_images_and_tools_and_reads_a_whole_tool_call(session, llm):
    image = ImagePart(png(), "image/png", "cat.png")
    # llava has no tools capability: the strict server refuses, as Ollama does
    with pytest.raises(BadRequest, match="does not support tools"):
        await collect(ollama(session, llm, "llava"), [Message("user", "What breed?", "Ann", images=(image,))],
                      tools=[SEARCH])
    llm.queue(Reply(text="", tool_calls=[FakeToolCall("web_search", {"query": "cat breeds"})]))
    events = await collect(ollama(session, llm, "llama3.2"), [Message("user", "Find cat breeds", "Ann")],
                           tools=[SEARCH])
    assert events[-2] == ToolCalls((ToolCall("call_0", "web_search", {"query": "cat breeds"}),))
    assert isinstance(events[-1], StreamEnd)
    body = llm.chat_requests[-1].json
    assert body["tools"] == [SEARCH.to_wire()]
    llm.queue(Reply(text="A tabby."))
    events = await collect(ollama(session, llm, "llava"), [Message("user", "What breed?", "Ann", images=(image,))])
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("A "), TextDelta("tabby.")]
    sent = llm.chat_requests[-1].json["messages"][0]
    assert sent == {"role": "user", "content": "Ann: What breed?", "images": [base64.b64encode(png()).decode()]}


async def test_ollama_tool_results_go_back_as_tool_messages_with_arguments_as_objects(session, llm):
    llm.queue(Reply(text="About 384,400 km [1]."))
    events = await collect(ollama(session, llm), history_with_a_tool_round("call_0"), tools=[SEARCH])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "About 384,400 km [1]."
    sent = llm.chat_requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": "",
                       "tool_calls": [{"function": {"name": "web_search", "arguments": {"query": "moon distance"}}}]}
    assert sent[2] == {"role": "tool", "content": "[1] Moon (https://example.org/moon)\n384,400 km",
                       "tool_name": "web_search"}


async def test_ollama_thinking_field_and_think_tags_never_become_answer_text(session, llm):
    llm.queue(Reply(reasoning="The user greets me.", text="Hello!"))
    events = await collect(ollama(session, llm, "qwen3"), [Message("user", "hi")])
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "The user greets me."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello!"
    llm.queue(Reply(chunks=["<thi", "nk>Greeting", " detected.</th", "ink>\n\nHel", "lo!"]))
    result = await ollama(session, llm, "qwen3").chat([Message("user", "hi")])
    assert (result.reasoning, result.text) == ("Greeting detected.", "Hello!")


async def test_openai_streamed_tool_call_fragments_are_assembled_by_index(session, llm):
    llm.queue(Reply(text="Let me look.", tool_calls=[
        FakeToolCall("web_search", {"query": "moon distance"}, id="call_a"),
        FakeToolCall("web_search", {"query": "moon mass", "note": "é ✓"}, id="call_b")], argument_pieces=5))
    events = await collect(openai(session, llm), [Message("user", "moon?", "Ann")], tools=[SEARCH])
    calls = next(e for e in events if isinstance(e, ToolCalls)).calls
    assert calls == (ToolCall("call_a", "web_search", {"query": "moon distance"}),
                     ToolCall("call_b", "web_search", {"query": "moon mass", "note": "é ✓"}))
    assert events[-1].finish_reason == "tool_calls"
    assert llm.chat_requests[-1].json["tools"] == [SEARCH.to_wire()]


async def test_openai_broken_arguments_json_is_reported_on_the_call_not_raised(session, llm):
    llm.queue(Reply(text="", tool_calls=[FakeToolCall("web_search", raw_arguments='{"query": "moo')]))
    result = await openai(session, llm).chat([Message("user", "moon?")])
    assert result.tool_calls[0].name == "web_search" and "not valid JSON" in (result.tool_calls[0].error or "")


async def test_openai_images_as_data_url_parts_and_tool_results_with_ids(session, llm):
    llm.queue(Reply(text="Red."))
    image = ImagePart(png(), "image/png")
    await collect(openai(session, llm), [Message("user", "Colour?", "Ann", images=(image,))])
    content = llm.chat_requests[-1].json["messages"][0]["content"]
    assert content == [{"type": "text", "text": "Ann: Colour?"},
                       {"type": "image_url", "image_url": {"url": "data:image/png;base64," + image.base64()}}]
    llm.queue(Reply(text="Far."))
    await collect(openai(session, llm), history_with_a_tool_round("call_x"), tools=[SEARCH])
    sent = llm.chat_requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_x", "type": "function", "function": {"name": "web_search",
                                                          "arguments": '{"query":"moon distance"}'}}]}
    assert sent[2] == {"role": "tool", "tool_call_id": "call_x",
                       "content": "[1] Moon (https://example.org/moon)\n384,400 km"}


@pytest.mark.parametrize("openrouter, field", [(False, "reasoning_content"), (True, "reasoning")])
async def test_openai_reasoning_fields_are_thinking(session, openrouter, field):
    async with FakeLLMServer(openrouter=openrouter) as server:
        server.queue(Reply(reasoning="Two and two.", text="Four."))
        result = await openai(session, server, name="openrouter").chat([Message("user", "2+2?")])
    assert (result.reasoning, result.text) == ("Two and two.", "Four.")


async def test_a_non_vision_model_given_an_image_is_refused_like_the_real_server(session, llm):
    with pytest.raises(BadRequest, match="does not support images"):
        await collect(ollama(session, llm, "llama3.2"), [Message("user", "hi", images=(ImagePart(png()),))])


async def test_capabilities_from_ollama_show_and_openrouter_models(session, llm):
    assert await ollama(session, llm).capabilities("llava") == {"completion", "vision"}
    assert await ollama(session, llm).capabilities("qwen3:latest") == {"completion", "tools", "thinking"}
    assert await openai(session, llm).capabilities("gpt-4o-mini") is None  # plain /models says nothing
    async with FakeLLMServer(openrouter=True) as router_server:
        provider = openai(session, router_server, name="openrouter")
        assert await provider.capabilities("gpt-4o-mini") == {"completion", "vision", "tools"}
        assert await provider.capabilities("meta-llama/llama-3.3-70b-instruct:free") == {"completion", "tools"}
        assert await provider.capabilities("no/such-model") is None
