"""Discord's limits on a message, answered the way Discord answers them (400, 50035 or 50006)."""

from __future__ import annotations

from typing import Any

from devtools.discord_emulator.errors import FormErrors, empty_message

CONTENT = 2000
EMBEDS = 10
EMBED_TOTAL = 6000
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
ACTION_ROWS = 5
ROW_ITEMS = 5
CUSTOM_ID = 100
BUTTON_LABEL = 80
COMPONENTS_V2 = 1 << 15
MENTION_PARSE = {"users", "roles", "everyone"}


def validate_message(message: dict[str, Any], *, attachments: int) -> None:
    """Check a whole message (after merging an edit); raise DiscordError listing every problem."""
    errors = FormErrors()
    content = message.get("content") or ""
    if not isinstance(content, str):
        errors.add(("content",), "BASE_TYPE_STRING", "Must be a string.")
        content = ""
    if len(content) > CONTENT:
        errors.too_long(("content",), CONTENT)
    embeds = message.get("embeds") or []
    _check_embeds(embeds, errors)
    flags = int(message.get("flags") or 0)
    components = message.get("components") or []
    if not flags & COMPONENTS_V2:
        _check_components(components, errors)
    _check_allowed_mentions(message.get("allowed_mentions"), errors)
    errors.raise_if_any()
    has_body = (content.strip() or embeds or attachments or message.get("sticker_ids") or message.get("poll")
                or (components and flags & COMPONENTS_V2))
    if not has_body:
        raise empty_message()


def embed_size(embed: dict[str, Any]) -> int:
    """Characters that count toward the 6000 total: title, description, fields, footer, author."""
    size = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or []:
        size += len(f.get("name") or "") + len(f.get("value") or "")
    size += len((embed.get("footer") or {}).get("text") or "")
    size += len((embed.get("author") or {}).get("name") or "")
    return size


def _check_embeds(embeds: list[dict[str, Any]], errors: FormErrors) -> None:
    if len(embeds) > EMBEDS:
        errors.too_long(("embeds",), EMBEDS)
        return
    for i, embed in enumerate(embeds):
        path = ("embeds", i)
        for key, limit in (("title", TITLE), ("description", DESCRIPTION)):
            if len(embed.get(key) or "") > limit:
                errors.too_long((*path, key), limit)
        fields = embed.get("fields") or []
        if len(fields) > FIELDS:
            errors.too_long((*path, "fields"), FIELDS)
        for j, f in enumerate(fields[:FIELDS]):
            for key, limit in (("name", FIELD_NAME), ("value", FIELD_VALUE)):
                value = f.get(key)
                if value is None or value == "":
                    errors.required((*path, "fields", j, key))
                elif len(value) > limit:
                    errors.too_long((*path, "fields", j, key), limit)
        footer = embed.get("footer")
        if footer and len(footer.get("text") or "") > FOOTER:
            errors.too_long((*path, "footer", "text"), FOOTER)
        author = embed.get("author")
        if author and len(author.get("name") or "") > AUTHOR:
            errors.too_long((*path, "author", "name"), AUTHOR)
    if sum(embed_size(e) for e in embeds) > EMBED_TOTAL:
        errors.add(("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL}")


def _check_components(rows: list[dict[str, Any]], errors: FormErrors) -> None:
    if len(rows) > ACTION_ROWS:
        errors.too_long(("components",), ACTION_ROWS)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if row.get("type") != 1:
            errors.add(("components", i, "type"), "UNION_TYPE_CHOICES",
                       "Value of field \"type\" must be one of (1,).")
            continue
        items = row.get("components") or []
        if not items or len(items) > ROW_ITEMS:
            errors.add(("components", i, "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for j, item in enumerate(items):
            path = ("components", i, "components", j)
            custom_id = item.get("custom_id")
            if custom_id is not None:
                if len(custom_id) > CUSTOM_ID:
                    errors.too_long((*path, "custom_id"), CUSTOM_ID)
                if custom_id in seen:
                    errors.add((*path, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED",
                               "Component custom id cannot be duplicated")
                seen.add(custom_id)
            elif item.get("type") == 2 and item.get("style") not in (5, 6):
                errors.required((*path, "custom_id"))
            if item.get("type") == 2 and len(item.get("label") or "") > BUTTON_LABEL:
                errors.too_long((*path, "label"), BUTTON_LABEL)


def _check_allowed_mentions(allowed: dict[str, Any] | None, errors: FormErrors) -> None:
    if not allowed:
        return
    parse = allowed.get("parse") or []
    for i, value in enumerate(parse):
        if value not in MENTION_PARSE:
            errors.add(("allowed_mentions", "parse", i), "ENUM_TYPE_COERCE", f"Value \"{value}\" is not a valid enum value.")
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            errors.add(("allowed_mentions",), "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                       f"parse:[\"{kind}\"] and {kind}: [ids...] are mutually exclusive.")
        if len(allowed.get(kind) or []) > 100:
            errors.too_long(("allowed_mentions", kind), 100)
