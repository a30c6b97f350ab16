"""What the fake model server answers: the scripted `Reply`, and the bytes of each dialect's stream.

Ollama streams NDJSON lines: thinking in `message.thinking`, text in `message.content`, a tool
call whole (arguments as an object) in `message.tool_calls`, then a `"done": true` line.
OpenAI-compatible servers stream SSE chunks: thinking in `delta.reasoning_content` (vLLM,
DeepSeek, llama.cpp; OpenRouter: `delta.reasoning`), text in `delta.content`, and each tool call
in fragments tied by `index` (the first with `id`, `type` and the name, then the arguments JSON
in pieces), ending with `finish_reason: "tool_calls"` and `data: [DONE]`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FakeToolCall:
    """One call the scripted model makes: `FakeToolCall("web_search", {"query": "moon"})`."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    raw_arguments: str | None = None  # OpenAI: send this text instead of the JSON (a model's broken JSON)

    def arguments_text(self) -> str:
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Reply:
    """How the server answers one chat request. Positions (`*_after`) count answer chunks sent."""

    text: str = "Hello from the fake model."
    chunks: Sequence[str] | None = None  # explicit chunking; default: word by word
    status: int = 200  # anything else: that status with the dialect's error body, no stream
    error: str = "simulated failure"  # message of an HTTP error or of an error inside the stream
    retry_after: str | None = None  # Retry-After header of an HTTP error
    headers_delay: float = 0.0  # seconds before the response headers
    first_token_delay: float = 0.0  # seconds after the headers, before the first chunk
    token_delay: float = 0.0  # seconds between chunks
    keepalives: int = 0  # SSE comments (": OPENROUTER PROCESSING") sent before the first chunk
    stall_after: int | None = None  # send nothing more after this many chunks (until the client leaves)
    error_after: int | None = None  # an error inside the 200 stream after this many chunks
    truncate_after: int | None = None  # end the body cleanly, without the final marker
    reset_after: int | None = None  # drop the TCP connection
    garbage_after: int | None = None  # a line that is not JSON
    finish_reason: str = "stop"
    usage: tuple[int, int] | None = (11, 7)  # (prompt, completion) tokens; None: not reported
    send_done: bool = True  # OpenAI: the final "data: [DONE]"
    reasoning: str = ""  # thinking streamed (word by word) before the text, in the dialect's own field
    tool_calls: Sequence[FakeToolCall] = ()  # calls made after the text
    argument_pieces: int = 3  # OpenAI: each call's arguments split into this many fragments

    def pieces(self) -> list[str]:
        return list(self.chunks) if self.chunks is not None else _words(self.text)


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def go_json(value: Any) -> bytes:
    """JSON as Go's encoding/json writes it (compact, HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime())


class Frames:
    """The bytes of one dialect's stream; `plan` lists the frames of a reply, built when sent."""

    def __init__(self, model: str, openrouter: bool, stream_options: Any) -> None:
        self.model = model
        self.openrouter = openrouter
        self.include_usage = bool(isinstance(stream_options, dict) and stream_options.get("include_usage"))

    def plan(self, reply: Reply) -> list[Callable[[], bytes]]:
        """One builder per answer chunk, in order: thinking, text, tool calls. Built lazily so a
        subclass (bench/chat_latency.py) can stamp the moment a chunk is written."""
        frames: list[Callable[[], bytes]] = [lambda p=p: self.thinking(p) for p in _words(reply.reasoning)]
        frames += [lambda p=p: self.chunk(p) for p in reply.pieces()]
        for index, call in enumerate(reply.tool_calls):
            frames += [lambda f=f: f for f in self.tool_call(index, call, reply.argument_pieces)]
        return frames

    def opening(self) -> bytes:
        return b""

    def garbage(self) -> bytes:
        return b"{this is not json\n"

    def chunk(self, text: str) -> bytes:
        raise NotImplementedError

    def thinking(self, text: str) -> bytes:
        raise NotImplementedError

    def tool_call(self, index: int, call: FakeToolCall, pieces: int) -> list[bytes]:
        raise NotImplementedError

    def error(self, message: str) -> bytes:
        raise NotImplementedError

    def closing(self, reply: Reply) -> bytes:
        raise NotImplementedError

    def whole(self, reply: Reply) -> bytes:
        raise NotImplementedError


class OllamaFrames(Frames):
    def _line(self, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "created_at": _now_rfc3339(), "message": {"role": "assistant", **message},
                **extra}

    def chunk(self, text: str) -> bytes:
        return go_json(self._line({"content": text}, done=False)) + b"\n"

    def thinking(self, text: str) -> bytes:
        return go_json(self._line({"content": "", "thinking": text}, done=False)) + b"\n"

    def tool_call(self, index: int, call: FakeToolCall, pieces: int) -> list[bytes]:
        return [go_json(self._line({"content": "", "tool_calls": [_ollama_call(call)]}, done=False)) + b"\n"]

    def error(self, message: str) -> bytes:
        return go_json({"error": message}) + b"\n"

    def _final(self, reply: Reply, message: dict[str, Any]) -> dict[str, Any]:
        counts: dict[str, Any] = {}
        if reply.usage is not None:
            counts = {"prompt_eval_count": reply.usage[0], "prompt_eval_duration": 21000000,
                      "eval_count": reply.usage[1], "eval_duration": 312000000}
        return self._line(message, done_reason=reply.finish_reason, done=True, total_duration=412000000,
                          load_duration=19000000, **counts)

    def closing(self, reply: Reply) -> bytes:
        return go_json(self._final(reply, {"content": ""})) + b"\n"

    def whole(self, reply: Reply) -> bytes:
        message: dict[str, Any] = {"content": "".join(reply.pieces())}
        if reply.reasoning:
            message["thinking"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [_ollama_call(c) for c in reply.tool_calls]
        return go_json(self._final(reply, message))


def _ollama_call(call: FakeToolCall) -> dict[str, Any]:
    return {"function": {"name": call.name, "arguments": call.arguments}}


class OpenAIFrames(Frames):
    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        if self.openrouter:
            data = {"id": "gen-1730000000-abcdef", "provider": "Fake", "model": self.model,
                    "object": "chat.completion.chunk", "created": 1730000000, "choices": choices, **extra}
        else:
            data = {"id": "chatcmpl-AbCdEf123", "object": "chat.completion.chunk", "created": 1730000000,
                    "model": self.model, "system_fingerprint": "fp_0ba0d124f1", "choices": choices, **extra}
            if self.include_usage:
                data.setdefault("usage", None)
        return b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"

    def _choice(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if self.openrouter:
            return {"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish,
                    "logprobs": None}
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def garbage(self) -> bytes:
        return b"data: {this is not json\n\n"

    def opening(self) -> bytes:
        if self.openrouter:
            return b""
        return self._event([self._choice({"role": "assistant", "content": "", "refusal": None})])

    def chunk(self, text: str) -> bytes:
        delta = {"role": "assistant", "content": text} if self.openrouter else {"content": text}
        return self._event([self._choice(delta)])

    def thinking(self, text: str) -> bytes:
        delta = {"role": "assistant", "content": "", "reasoning": text} if self.openrouter \
            else {"reasoning_content": text}
        return self._event([self._choice(delta)])

    def tool_call(self, index: int, call: FakeToolCall, pieces: int) -> list[bytes]:
        call_id = call.id or f"call_{index}"
        first = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        frames = [self._event([self._choice({"tool_calls": [first]})])]
        text = call.arguments_text()
        size = max(1, -(-len(text) // max(1, pieces)))
        for start in range(0, len(text), size):
            fragment = {"index": index, "function": {"arguments": text[start:start + size]}}
            frames.append(self._event([self._choice({"tool_calls": [fragment]})]))
        return frames

    def error(self, message: str) -> bytes:
        if self.openrouter:
            return self._event([self._choice({"content": ""}, "error")],
                               error={"code": "server_error", "message": message})
        body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    def _usage(self, reply: Reply) -> dict[str, Any]:
        assert reply.usage is not None
        prompt, completion = reply.usage
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _finish(self, reply: Reply) -> str:
        return "tool_calls" if reply.tool_calls and reply.finish_reason == "stop" else reply.finish_reason

    def closing(self, reply: Reply) -> bytes:
        frames = self._event([self._choice({}, self._finish(reply))])
        if reply.usage is not None and (self.include_usage or self.openrouter):
            frames += self._event([], usage=self._usage(reply))
        return frames + (b"data: [DONE]\n\n" if reply.send_done else b"")

    def whole(self, reply: Reply) -> bytes:
        text = "".join(reply.pieces())
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not reply.tool_calls else None}
        if reply.reasoning:
            message["reasoning" if self.openrouter else "reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = [{"id": c.id or f"call_{i}", "type": "function",
                                      "function": {"name": c.name, "arguments": c.arguments_text()}}
                                     for i, c in enumerate(reply.tool_calls)]
        body: dict[str, Any] = {
            "id": "chatcmpl-AbCdEf123", "object": "chat.completion", "created": 1730000000, "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish(reply)}],
        }
        if reply.usage is not None:
            body["usage"] = self._usage(reply)
        return json.dumps(body, indent=2).encode()
