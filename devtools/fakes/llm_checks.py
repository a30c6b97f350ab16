"""Request shapes the fake model server refuses, as strictly as the real servers do.

Each check returns None for a good request, or (status, message) with the real server's wording
where it is known (Go's JSON decoder for Ollama; OpenAI's invalid_request_error messages):
  Ollama   `content` is a string; `images` are base64 of real image bytes; a tool call's
           `arguments` is an object (not a string); `tools` are `{"type": "function", ...}`;
           tools or images for a model without that capability: 400 "... does not support tools".
  OpenAI   `content` is a string or a list of `text` / `image_url` parts (data URLs of real
           images); an assistant's `tool_calls` have `id`, `type: "function"` and `arguments` as a
           *string*; every `role: "tool"` answers a `tool_call_id` of the assistant turn just
           before it, and every call of that turn is answered before the next turn.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

Problem = tuple[int, str] | None

ROLES = ("system", "user", "assistant", "tool")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,(.*)$", re.DOTALL)
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _image_problem(encoded: Any, where: str) -> str | None:
    if not isinstance(encoded, str):
        return f"{where}: expected a base64 string"
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return f"{where}: illegal base64 data"
    if not data.startswith(_IMAGE_MAGIC):
        return f"{where}: image: unknown format"
    return None


def _tools_problem(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "tools: expected an array"
    for n, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            return f"tools[{n}]: expected {{\"type\": \"function\", \"function\": {{...}}}}"
        if not isinstance(function.get("name"), str) or not _TOOL_NAME.match(function["name"]):
            return f"tools[{n}].function.name: must match ^[a-zA-Z0-9_-]{{1,64}}$"
        if not isinstance(function.get("parameters", {}), dict):
            return f"tools[{n}].function.parameters: expected an object"
    return None


def check_ollama(body: Any, capabilities: frozenset[str]) -> Problem:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return 400, "model is required"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 400, "json: cannot unmarshal messages: expected an array"
    images = False
    for n, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return 400, f"invalid role in messages[{n}]"
        if not isinstance(m.get("content", ""), str):
            return 400, (f"json: cannot unmarshal {type(m['content']).__name__} into Go struct field "
                         "Message.messages.content of type string")
        for k, image in enumerate(m.get("images") or []):
            if problem := _image_problem(image, f"messages[{n}].images[{k}]"):
                return 400, problem
            images = True
        for call in m.get("tool_calls") or []:
            args = call.get("function", {}).get("arguments") if isinstance(call, dict) else None
            if not isinstance(args, dict):
                return 400, ("json: cannot unmarshal string into Go struct field ToolCallFunction.messages."
                             "tool_calls.function.arguments of type api.ToolCallFunctionArguments")
    if problem := _tools_problem(body.get("tools")):
        return 400, problem
    if body.get("tools") and "tools" not in capabilities:
        return 400, f"registry.ollama.ai/library/{body['model']} does not support tools"
    if images and "vision" not in capabilities:
        return 400, f"registry.ollama.ai/library/{body['model']} does not support images"
    return None


def check_openai(body: Any, capabilities: frozenset[str]) -> Problem:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        return 400, "Missing required parameter: 'messages'."
    open_calls: list[str] = []  # ids of the last assistant turn's calls not yet answered
    images = False
    for n, m in enumerate(body["messages"]):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            return 400, f"Invalid value for 'messages[{n}].role'."
        if m["role"] == "tool":
            if m.get("tool_call_id") not in open_calls:
                return 400, ("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                             "message with 'tool_calls'.")
            open_calls.remove(m["tool_call_id"])
            continue
        if open_calls:
            return 400, ("An assistant message with 'tool_calls' must be followed by tool messages responding to "
                         f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                         f"{', '.join(open_calls)}")
        content = m.get("content")
        if isinstance(content, list):
            for k, part in enumerate(content):
                where = f"messages[{n}].content[{k}]"
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    continue
                if not (isinstance(part, dict) and part.get("type") == "image_url" and m["role"] == "user"):
                    return 400, f"Invalid content part at '{where}'."
                url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
                match = _DATA_URL.match(url) if isinstance(url, str) else None
                if not match:
                    return 400, f"Invalid 'image_url.url' at '{where}': expected a data:image/...;base64, URL."
                if problem := _image_problem(match.group(2), where):
                    return 400, f"Invalid image data at '{where}' ({problem.split(': ')[-1]})."
                images = True
        elif not (isinstance(content, str) or (content is None and m["role"] == "assistant" and m.get("tool_calls"))):
            return 400, f"Invalid type for 'messages[{n}].content': expected a string or an array of content parts."
        for k, call in enumerate(m.get("tool_calls") or []):
            function = call.get("function") if isinstance(call, dict) else None
            if (m["role"] != "assistant" or not isinstance(call.get("id"), str) or call.get("type") != "function"
                    or not isinstance(function, dict) or not isinstance(function.get("name"), str)):
                return 400, f"Invalid 'messages[{n}].tool_calls[{k}]'."
            if not isinstance(function.get("arguments"), str):
                return 400, (f"Invalid type for 'messages[{n}].tool_calls[{k}].function.arguments': expected a "
                             "string, but got an object instead.")
            open_calls.append(call["id"])
    if open_calls:
        return 400, ("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                     f"'tool_call_id'. The following tool_call_ids did not have response messages: "
                     f"{', '.join(open_calls)}")
    if problem := _tools_problem(body.get("tools")):
        return 400, f"Invalid 'tools': {problem}"
    if body.get("tools") and "tools" not in capabilities:
        return 400, f"{body.get('model')} does not support tools"
    if images and "vision" not in capabilities:
        return 400, "Invalid content type. image_url is only supported by certain models."
    return None
