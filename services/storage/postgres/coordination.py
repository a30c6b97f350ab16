"""Leader election and shard leases through session-level advisory locks on one dedicated connection.

- Leader: whoever holds `pg_try_advisory_lock(project, LEADER)`. The others try every `interval`
  seconds; `kill -9` of the leader ends its session and frees the lock at once, so leadership moves
  within one interval. A leader whose connection drops stops leading at that moment (asyncpg's
  termination listener), before anyone else can take over.
- Shard leases: a process holds the lease of each shard it runs (SHARD_IDS) and delivers those
  shards' reminders. A lease nobody holds (its process died, or never started) is adopted by a
  running process, which delivers that shard's reminders by REST until the owner is back: the owner
  then asks for it (`NOTIFY shard_lease`) and the adopter gives it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import asyncpg

from services.shards import Shards
from services.storage.coordination import Coordinator
from services.storage.db import StorageError
from services.storage.postgres import locks
from services.storage.postgres.database import DRIVER_ERRORS, PgDatabase

log = logging.getLogger(__name__)

CHANNEL = "shard_lease"
ASK_AGAIN = 0.25  # seconds between asks while a shard this process runs is still held by an adopter


class PgCoordinator(Coordinator):
    def __init__(self, db: PgDatabase, home: Shards, name: str, *, interval: float = 2.0,
                 adopt: bool = True) -> None:
        super().__init__(home, name)
        self._db = db
        self._interval = interval
        self._adopt = adopt
        self._conn: asyncpg.Connection | None = None
        self._conn_lock = asyncio.Lock()
        self._leader = False
        self._held: set[int] = set()  # home shards whose lease we hold
        self._adopted: set[int] = set()
        self._given_back: dict[int, float] = {}  # shard -> when, so we do not grab it again at once
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # a shard this process runs was just given back: take it now
        self._closed = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def shards(self) -> Shards:
        return self.home.with_ids(self._held | self._adopted)

    async def start(self) -> None:
        await self._db.listen(CHANNEL, self._heard)
        try:
            await self._maintain()
        except (StorageError, *DRIVER_ERRORS) as exc:
            log.warning("Could not take part in coordination yet (%s); retrying", exc)
            await self._drop()
        self._task = asyncio.create_task(self._loop(), name="coordination")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop(closing=True)

    async def leader_name(self) -> str | None:
        value = await self._db.fetchval(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted",
            locks.PROJECT, locks.LEADER)
        return None if value is None else str(value).removeprefix("discord-llm-bot ")

    # --- the loop --------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), ASK_AGAIN if self._held != self.home.ids else self._interval)
            self._wake.clear()
            try:
                await self._maintain()
            except (StorageError, *DRIVER_ERRORS) as exc:
                log.warning("Coordination connection problem (%s); leadership and shards dropped, retrying", exc)
                await self._drop()

    async def _maintain(self) -> None:
        async with self._conn_lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._db.connect(application_name=f"discord-llm-bot {self.name}")
                self._conn.add_termination_listener(self._lost)
            conn = self._conn
            changed = False
            if not self._leader:
                if await self._try(conn, locks.LEADER):
                    self._leader, changed = True, True
                    log.info("This process (%s) now leads the once-per-bot work", self.name)
            else:
                await conn.fetchval("SELECT 1")  # still alive: the lock is still ours
            for shard in sorted(self.home.ids - self._held):
                if await self._try(conn, locks.shard_lease(shard)):
                    self._held.add(shard)
                    changed = True
                else:
                    await self._db.execute("SELECT pg_notify($1, $2)", CHANNEL,
                                           json.dumps({"want": shard, "by": self._db.token}))
            if self._adopt:
                now = time.monotonic()
                for shard in range(self.home.count):
                    if (shard in self.home.ids or shard in self._adopted
                            or now - self._given_back.get(shard, -1e9) < 3 * self._interval):
                        continue
                    if await self._try(conn, locks.shard_lease(shard)):
                        self._adopted.add(shard)
                        changed = True
                        log.info("Adopted shard %d (its process is gone): delivering its reminders", shard)
        if changed:
            self._changed()

    @staticmethod
    async def _try(conn: asyncpg.Connection, key: int) -> bool:
        return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", locks.PROJECT, key))

    async def _heard(self, payload: str) -> None:
        """{"want": shard}: its process asks for it back (we give it if we adopted it);
        {"released": [shards], "leader": bool}: free now (a shard given back, a process stopping):
        try at once instead of at the next interval."""
        try:
            note = json.loads(payload)
            by = str(note["by"])
            want = int(note["want"]) if "want" in note else None
            released = {int(s) for s in note.get("released", [])}
            leader_free = bool(note.get("leader"))
        except (ValueError, KeyError, TypeError):
            log.warning("Ignored a malformed shard_lease notification: %.200r", payload)
            return
        if by == self._db.token or self._closed:
            return
        if want is None:
            ours = released & (self.home.ids - self._held)
            adoptable = released - self.home.ids if self._adopt else set()
            if ours or adoptable or (leader_free and not self._leader):
                self._wake.set()
            return
        if want not in self._adopted:
            return
        async with self._conn_lock:
            conn = self._conn
            if conn is None or want not in self._adopted:
                return
            try:
                await conn.fetchval("SELECT pg_advisory_unlock($1, $2)", locks.PROJECT, locks.shard_lease(want))
            except DRIVER_ERRORS:
                return  # the connection is going; _lost drops everything
            self._adopted.discard(want)
            self._given_back[want] = time.monotonic()
        await self._announce([want], leader=False)
        log.info("Gave shard %d back to its process", want)
        self._changed()

    async def _announce(self, shards: list[int], *, leader: bool) -> None:
        with contextlib.suppress(StorageError):
            await self._db.execute("SELECT pg_notify($1, $2)", CHANNEL,
                                   json.dumps({"released": shards, "leader": leader, "by": self._db.token}))

    # --- losing the connection -------------------------------------------------------------------

    def _lost(self, conn: object) -> None:
        """The server ended our session: its locks are gone, so are our roles (synchronously)."""
        if conn is self._conn:
            self._conn = None
            self._forget("the coordination connection closed")

    def _forget(self, why: str, *, level: int = logging.WARNING) -> None:
        if self._leader or self._held or self._adopted:
            if self._leader:
                log.log(level, "No longer the leader: %s", why)
            self._leader = False
            self._held.clear()
            self._adopted.clear()
            self._changed()

    async def _drop(self, *, closing: bool = False) -> None:
        async with self._conn_lock:
            conn, self._conn = self._conn, None
            shards, leader = sorted(self._held | self._adopted), self._leader
            self._forget("shutting down" if closing else "connection problem",
                         level=logging.INFO if closing else logging.WARNING)
            if conn is not None:
                conn.remove_termination_listener(self._lost)
                with contextlib.suppress(*DRIVER_ERRORS):
                    await conn.close(timeout=5)  # the server frees our locks with the session
        if closing and (shards or leader):  # a clean stop: the others take over now, not at their next try
            await self._announce(shards, leader=leader)
