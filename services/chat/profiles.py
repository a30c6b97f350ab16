"""Persona (system prompt) and model chain per channel or per server, persisted (/persona, /model).

The effective value for a channel is the first one set among: the channel itself (for a thread,
the thread, then its parent channel), the server, the bot's default; the answer says where it
came from, so `/persona` without options can show it. A chain names only providers this bot has
built (the router's); the models themselves are checked by the caller against what the provider
lists (autocomplete).

`ChatProfileStore` is the contract and the fallback logic; the backends
(services/storage/sqlite/profiles.py, services/storage/postgres/profiles.py) hold only SQL.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from config.settings import ModelRef

Scope = Literal["channel", "guild"]
T = TypeVar("T")
MAX_PERSONA_CHARS = 4000
MAX_CHAIN = 5


class ProfileError(ValueError):
    """A value that cannot be stored; the message is a full sentence for the member."""


@dataclass(frozen=True)
class Effective(Generic[T]):
    value: T
    source: Literal["channel", "server", "default"]
    scope_id: int | None = None  # the channel or server it was set on


Column = Literal["persona", "model_chain"]


class ChatProfileStore(ABC):
    def __init__(self, *, default_persona: str, default_chain: Sequence[ModelRef],
                 providers: Sequence[str], clock: Callable[[], float] = time.time) -> None:
        self.default_persona = default_persona
        self.default_chain = tuple(default_chain)
        self.providers = tuple(providers)
        self._clock = clock

    async def persona(self, guild_id: int | None, channel_ids: Sequence[int]) -> Effective[str]:
        found = await self._lookup("persona", guild_id, channel_ids)
        return Effective(found[0], *found[1:]) if found else Effective(self.default_persona, "default")

    async def chain(self, guild_id: int | None, channel_ids: Sequence[int]) -> Effective[tuple[ModelRef, ...]]:
        found = await self._lookup("model_chain", guild_id, channel_ids)
        if found:
            return Effective(self.parse_chain(found[0], check=False), *found[1:])
        return Effective(self.default_chain, "default")

    async def set_persona(self, scope: Scope, scope_id: int, guild_id: int, text: str | None, *, by: int) -> None:
        """Store a persona, or clear it with None (the channel then follows the server or the default)."""
        if text is not None:
            text = text.strip()
            if not text:
                raise ProfileError("The persona is empty; give it some text, or reset it.")
            if len(text) > MAX_PERSONA_CHARS:
                raise ProfileError(f"That persona is {len(text):,} characters; the limit is {MAX_PERSONA_CHARS:,}.")
        await self._store(scope, scope_id, guild_id, "persona", text, by)

    async def set_chain(self, scope: Scope, scope_id: int, guild_id: int, spec: str | None, *,
                        by: int) -> tuple[ModelRef, ...]:
        """Store "provider:model, provider:model" (tried in order), or clear it with None."""
        chain = self.parse_chain(spec) if spec is not None else ()
        await self._store(scope, scope_id, guild_id, "model_chain",
                          ",".join(f"{r.provider}:{r.model}" for r in chain) if spec is not None else None, by)
        return chain

    def parse_chain(self, spec: str, *, check: bool = True) -> tuple[ModelRef, ...]:
        refs: list[ModelRef] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            provider, sep, model = part.partition(":")
            provider, model = provider.strip().lower(), model.strip()
            if check and (not sep or not model):
                raise ProfileError(f"{part!r} is not provider:model (for example ollama:llama3.2).")
            if check and provider not in self.providers:
                raise ProfileError(f"{provider!r} is not a provider this bot uses; choose from "
                                   f"{', '.join(self.providers) or 'none'}.")
            refs.append(ModelRef(provider, model))
        if check and not refs:
            raise ProfileError("Name at least one provider:model.")
        if check and len(refs) > MAX_CHAIN:
            raise ProfileError(f"At most {MAX_CHAIN} models in a chain.")
        return tuple(dict.fromkeys(refs))

    # --- SQL, one implementation per backend ---------------------------------------------------

    @abstractmethod
    async def forget_guild(self, guild_id: int) -> int:
        """Everything a server set (it removed the bot, or asked to be forgotten)."""

    @abstractmethod
    async def _value(self, column: Column, scope: Scope, scope_id: int) -> str | None:
        """The column of one row, None when unset or without a row."""

    @abstractmethod
    async def _upsert(self, scope: Scope, scope_id: int, guild_id: int, column: Column, value: str | None,
                      by: int, updated_at: float) -> None:
        """Set one column of the row (made if missing), then drop rows with nothing set, in one transaction."""

    # --- shared logic ----------------------------------------------------------------------------

    async def _lookup(self, column: Column, guild_id: int | None,
                      channel_ids: Sequence[int]) -> tuple[str, Literal["channel", "server"], int] | None:
        scopes: list[tuple[Scope, int]] = [("channel", c) for c in channel_ids]
        if guild_id is not None:
            scopes.append(("guild", guild_id))
        for scope, scope_id in scopes:
            value = await self._value(column, scope, scope_id)
            if value is not None:
                return value, "channel" if scope == "channel" else "server", scope_id
        return None

    async def _store(self, scope: Scope, scope_id: int, guild_id: int, column: Column, value: str | None,
                     by: int) -> None:
        await self._upsert(scope, scope_id, guild_id, column, value, by, self._clock())
