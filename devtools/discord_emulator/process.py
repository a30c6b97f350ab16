"""The real `python main.py` as a subprocess against a running emulator, for restart and shutdown tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools.discord_emulator.emulator import DiscordEmulator
from devtools.discord_emulator.gateway_session import Session

REPO = Path(__file__).resolve().parents[2]


class BotProcess:
    """A running bot process: its combined output, readiness as the emulator sees it, signals."""

    def __init__(self, process: asyncio.subprocess.Process, emulator: DiscordEmulator, identifies_before: int) -> None:
        self.process = process
        self.emulator = emulator
        self.lines: list[str] = []
        self._identifies_before = identifies_before
        self._sessions_before = len(emulator.gateway.sessions)
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, emulator: DiscordEmulator, env: Mapping[str, str], *, cwd: Path,
                    args: tuple[str, ...] = ()) -> BotProcess:
        """Start main.py with exactly `env` (plus PATH and PYTHONPATH); no .env file is read."""
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO),
                    "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **env}
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "main.py"), "--env-file", os.devnull, *args,
            cwd=cwd, env=full_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return cls(process, emulator, emulator.gateway.identifies)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode("utf-8", "replace"))
            self._wake()
        await self.process.wait()
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_ready(self, timeout: float = 30.0, *, shards: Sequence[int] | None = None) -> Session:
        """Ready = the process logged in, synced its commands and completed IDENTIFY with the emulator
        (READY and every GUILD_CREATE sent). discord.py's on_ready follows 2 s later in a subprocess.

        `shards` (a process started with SHARD_IDS): one IDENTIFY per shard it runs, each on a session
        that began after this process started (so several processes may start at once); returns the
        last shard's session. Without it: the next IDENTIFY the emulator sees."""
        gateway = self.emulator.gateway
        if shards is None:
            identify = asyncio.ensure_future(gateway.wait_for_identify(self._identifies_before + 1, timeout=timeout))
        else:
            wanted = sorted(shards)

            def identified() -> list[Session]:
                fresh = [s for s in gateway.sessions[self._sessions_before:] if s.ready]
                return [next(s for s in reversed(fresh) if s.shard_id == i) for i in wanted
                        if any(s.shard_id == i for s in fresh)]

            async def all_shards() -> Session:
                await self.emulator.wait_until(lambda: len(identified()) == len(wanted), timeout=timeout,
                                               message=f"one IDENTIFY for each of shards {wanted}")
                return identified()[-1]

            identify = asyncio.ensure_future(all_shards())
        exited = asyncio.ensure_future(self.process.wait())
        try:
            done, _ = await asyncio.wait({identify, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (identify, exited):
                future.cancel()
        if identify in done and not identify.cancelled() and identify.exception() is None:
            return identify.result()
        state = f"exited with {self.process.returncode}" if exited in done else f"not ready after {timeout:g}s"
        raise AssertionError(f"bot process {state}; output:\n{self.output}")

    async def wait_for_output(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The first match of the regex in the process's output so far or to come."""
        regex = re.compile(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            match = regex.search(self.output)
            if match:
                return match
            event = self._changed
            remaining = deadline - loop.time()
            if remaining <= 0 or (self.process.returncode is not None and self._reader.done()):
                raise AssertionError(f"{pattern!r} not in the bot's output; output:\n{self.output}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def terminate(self) -> None:
        """SIGTERM: the bot's clean shutdown path."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    def interrupt(self) -> None:
        """SIGINT, as Ctrl-C sends."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.process.returncode is None:
            self.process.kill()

    async def wait(self, timeout: float = 15.0) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"bot process still running after {timeout:g}s; output:\n{self.output}") from None
        await asyncio.wait_for(self._reader, timeout)
        return code

    async def stop(self) -> None:
        """Fixture cleanup: make sure nothing outlives the test."""
        self.kill()
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            await asyncio.wait_for(self.process.wait(), 10)
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
