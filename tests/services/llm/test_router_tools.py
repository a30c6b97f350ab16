"""The router passes tools to the provider and hands back the model's calls and thinking, apart from the text."""

from __future__ import annotations

from devtools.fakes.llm_server import FakeToolCall, Reply
from services.llm.base import ImagePart, Message, ReasoningDelta, TextDelta, ToolCall, ToolSpec
from services.llm.router import ChatResult

SPEC = ToolSpec("current_time", "The time now.", {"type": "object", "properties": {}})


async def test_tool_calls_and_reasoning_arrive_in_the_result_not_the_text(make_router, server):
    router = make_router(LLM_PROVIDER="ollama", OLLAMA_HOST=server.url, OLLAMA_MODEL="qwen3")
    server.queue(Reply(reasoning="Need the clock.", text="Checking.", tool_calls=[FakeToolCall("current_time")]))
    events = [e async for e in router.stream([Message("user", "time?")], tools=[SPEC])]
    result = events[-1]
    assert isinstance(result, ChatResult)
    assert result.text == "Checking." and result.reasoning == "Need the clock."
    assert result.tool_calls == (ToolCall("call_0", "current_time", {}),)
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["Need ", "the ", "clock."]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Checking."
    assert server.chat_requests[-1].json["tools"] == [SPEC.to_wire()]


async def test_cache_key_tells_images_apart(make_router, server):
    router = make_router(LLM_PROVIDER="ollama", OLLAMA_HOST=server.url, OLLAMA_MODEL="llava",
                         API_CACHE_ENABLED="true")
    server.queue(Reply(text="Red."), Reply(text="Blue."))
    from tests.services.llm.test_tools_and_images import png

    red = await router.chat([Message("user", "Colour?", images=(ImagePart(png("red")),))])
    blue = await router.chat([Message("user", "Colour?", images=(ImagePart(png("blue")),))])
    again = await router.chat([Message("user", "Colour?", images=(ImagePart(png("blue")),))])
    assert (red.text, blue.text, again.text, again.cached) == ("Red.", "Blue.", "Blue.", True)
