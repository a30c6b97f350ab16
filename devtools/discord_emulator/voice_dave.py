"""DAVE (Discord's end-to-end audio encryption) as the voice server plays it, for `VoiceServer(dave=True)`.

The server is the MLS group's external sender: it signs Add/Remove proposals with its own P-256 key
(op 25 tells members that key), relays the first commit of each epoch (op 29) and its welcome (op 30),
and executes a transition (op 22) once every member said it is ready (op 23). It holds no group
secrets. The simulated humans are real `davey.DaveSession`s inside the emulator, so they decrypt what
the bot says and encrypt what they say, exactly as Discord clients would. When the bot is in the
group it is the one asked to commit (so discord.py's commit path runs); otherwise a human commits.
"""

from __future__ import annotations

import itertools
import logging
import struct
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import davey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rfc9420 import DefaultCryptoProvider
from rfc9420.codec.tls import write_opaque_varint
from rfc9420.messages.data_structures import AddProposal, RemoveProposal, SenderType
from rfc9420.messages.messages import ContentType, MLSMessage, sign_authenticated_content
from sorrydave.mls.opcodes import parse_commit_welcome

from devtools.discord_emulator.voice_rtp import OPUS_SILENCE

log = logging.getLogger(__name__)

DAVE_VERSION = 1
MLS_CIPHERSUITE = 2  # MLS_128_DHKEMP256_AES128GCM_SHA256_P256, DAVE v1's
PROTOCOL_FRAME_MARKER = b"\xfa\xfa"  # last two bytes of every DAVE-encrypted frame
# Binary ops
EXTERNAL_SENDER, KEY_PACKAGE, PROPOSALS, COMMIT_WELCOME, ANNOUNCE_COMMIT, WELCOME = 25, 26, 27, 28, 29, 30
# JSON ops
EXECUTE_TRANSITION, TRANSITION_READY, INVALID_COMMIT_WELCOME = 22, 23, 31

SendBinary = Callable[[int, bytes], Awaitable[None]]
SendJson = Callable[..., Awaitable[None]]


@dataclass
class DaveRecord:
    """What happened, for tests: transitions executed, frames decrypted, failures."""

    commits: list[tuple[int, int]] = field(default_factory=list)  # (transition id, committer user id)
    executed: list[int] = field(default_factory=list)
    invalid_commits: list[int] = field(default_factory=list)
    bot_frames_decrypted: int = 0
    bot_frames_passthrough: int = 0
    decrypt_failures: int = 0


class DaveChannel:
    """The DAVE group of one bot voice session and the humans in its channel."""

    def __init__(self, *, channel_id: int, bot_user_id: int, send_binary: SendBinary, send_json: SendJson) -> None:
        self.channel_id = channel_id
        self.bot_user_id = bot_user_id
        self._send_binary = send_binary
        self._send_json = send_json
        self._group_id = channel_id.to_bytes(8, "big")
        self._crypto = DefaultCryptoProvider(suite_id=MLS_CIPHERSUITE)
        key = ec.generate_private_key(ec.SECP256R1())
        self._signing_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        # RFC 9420 ExternalSender: signature key, then a basic credential (type 1) with a one-byte identity.
        self.external_sender = write_opaque_varint(public) + b"\x00\x01" + write_opaque_varint(b"\x00")
        self.humans: dict[int, davey.DaveSession] = {}
        self.key_packages: dict[int, bytes] = {}  # pending members' key packages, by user id
        self.members: set[int] = set()  # in the MLS group now
        self.epoch = 0  # 0: no group yet
        self.record = DaveRecord()
        self._transitions = itertools.count(1)
        self._awaiting_commit: set[int] = set()  # newcomers the next commit must welcome
        self._removing: set[int] = set()  # members the next commit removes
        self._leaving: dict[int, int | None] = {}  # members gone from the channel, by leaf index, not yet proposed
        self._pending_transition: int | None = None

    @property
    def settled(self) -> bool:
        """No change under way: nobody waiting to be added, removed, or for a transition."""
        return not (self.key_packages or self._leaving or self._awaiting_commit or self._removing
                    or self._pending_transition is not None)

    # -- membership ---------------------------------------------------------------------------

    async def start(self, humans: Iterable[int]) -> None:
        """Right after SESSION_DESCRIPTION: the external sender, then humans already there form their group."""
        await self._send_binary(EXTERNAL_SENDER, self.external_sender)
        for user_id in humans:
            self._new_human(user_id)
        await self._update_group()

    async def bot_key_package(self, key_package: bytes) -> None:
        """Op 26: the bot (re)joins the group to be."""
        self.members.discard(self.bot_user_id)
        self.key_packages[self.bot_user_id] = key_package
        await self._update_group()

    async def human_joined(self, user_id: int) -> None:
        self._new_human(user_id)
        await self._update_group()

    async def human_left(self, user_id: int) -> None:
        session = self.humans.pop(user_id, None)
        self.key_packages.pop(user_id, None)
        if session is not None and user_id in self.members:
            self._leaving[user_id] = session.own_leaf_index  # still a member until the removal is committed
            await self._update_group()

    def _new_human(self, user_id: int) -> None:
        session = davey.DaveSession(DAVE_VERSION, user_id, self.channel_id)
        session.set_external_sender(self.external_sender)
        self.humans[user_id] = session
        self.key_packages[user_id] = session.get_serialized_key_package()

    async def _update_group(self) -> None:
        """One change at a time: a removal, else propose the pending members to the group's members
        (or to each other when there is no group yet). The rest follows once it is committed."""
        if self._awaiting_commit or self._removing or self._pending_transition is not None:
            return
        while self._leaving:
            user_id, leaf = self._leaving.popitem()
            remaining = self.members - {user_id}
            if not remaining & (set(self.humans) | {self.bot_user_id}):
                self.members, self.epoch = set(), 0  # nobody left to commit: the next pair starts a new group
                self._leaving.clear()
            elif leaf is None:
                self.members = remaining
            else:
                self._removing = {user_id}
                await self._propose(self._proposal(RemoveProposal(leaf).serialize()), to=remaining)
                return
        pending = dict(self.key_packages)
        if self.epoch > 0 and self.members and pending:
            self._awaiting_commit = set(pending)
            await self._propose(b"".join(self._proposal(AddProposal(kp).serialize()) for kp in pending.values()),
                                to=self.members)
        elif self.epoch == 0 and len(pending) >= 2:
            self._awaiting_commit = set(pending)
            committer = self.bot_user_id if self.bot_user_id in pending else min(pending)
            others = b"".join(self._proposal(AddProposal(kp).serialize())
                              for user, kp in pending.items() if user != committer)
            await self._propose(others, to={committer})

    def _proposal(self, content: bytes) -> bytes:
        """An MLSMessage(PublicMessage) carrying one proposal signed by the external sender."""
        plaintext = sign_authenticated_content(self._group_id, self.epoch, 0, b"", ContentType.PROPOSAL, content,
                                               self._signing_key, self._crypto, sender_type=SenderType.EXTERNAL)
        return MLSMessage.from_public_message(plaintext.auth_content).serialize()

    async def _propose(self, proposals: bytes, *, to: set[int]) -> None:
        """Op 27 (append) with the same bytes for every recipient; the bot commits if it is one."""
        vector = write_opaque_varint(proposals)
        commits: list[tuple[int, davey.CommitWelcome]] = []
        for user_id in sorted(to & set(self.humans)):  # humans who already left await their own removal
            result = self.humans[user_id].process_proposals(davey.ProposalsOperationType.append, vector)
            if result is not None:
                commits.append((user_id, result))
        if self.bot_user_id in to:
            await self._send_binary(PROPOSALS, b"\x00" + vector)  # the bot's commit arrives as op 28
        elif commits:
            user_id, result = commits[0]
            await self._announce(user_id, result.commit, result.welcome)

    # -- commits and transitions ----------------------------------------------------------------

    async def bot_commit_welcome(self, data: bytes) -> None:
        """Op 28 from the bot: the first commit of the epoch wins, and only the bot commits when it can."""
        if not self._awaiting_commit and not self._removing:
            log.debug("ignoring a commit nobody asked for")
            return
        commit, welcome = parse_commit_welcome(bytes([COMMIT_WELCOME]) + data)
        await self._announce(self.bot_user_id, commit, welcome)

    async def _announce(self, committer: int, commit: bytes, welcome: bytes | None) -> None:
        transition = next(self._transitions)
        self.record.commits.append((transition, committer))
        joining = self._awaiting_commit | ({committer} if self.epoch == 0 else set())
        existing = self.members - self._removing if self.epoch > 0 else {committer}
        self._awaiting_commit = set()
        self._removing = set()
        self.epoch += 1
        prefix = struct.pack(">H", transition)
        for user_id in existing:
            if user_id == self.bot_user_id:
                await self._send_binary(ANNOUNCE_COMMIT, prefix + commit)
            elif user_id in self.humans:
                self.humans[user_id].process_commit(commit)
        for user_id in joining - existing:
            if user_id == self.bot_user_id:
                await self._send_binary(WELCOME, prefix + (welcome or b""))
            elif welcome is not None:
                self.humans[user_id].process_welcome(welcome)
        for user_id in existing | joining:
            self.key_packages.pop(user_id, None)
        self.members = (existing | joining) & (set(self.humans) | set(self._leaving) | {self.bot_user_id})
        if self.bot_user_id in self.members:
            self._pending_transition = transition  # executed when the bot says op 23
        else:
            self.record.executed.append(transition)
            await self._update_group()

    async def transition_ready(self, transition_id: int) -> None:
        if transition_id != self._pending_transition:
            return
        self._pending_transition = None
        self.record.executed.append(transition_id)
        await self._send_json(EXECUTE_TRANSITION, {"transition_id": transition_id}, sequenced=True)
        await self._update_group()

    async def invalid_commit(self, transition_id: int) -> None:
        """Op 31: the bot could not use a commit or welcome; it re-sends a key package to be re-added."""
        self.record.invalid_commits.append(transition_id)
        self.members.discard(self.bot_user_id)
        if self._pending_transition == transition_id:
            self._pending_transition = None

    # -- media ---------------------------------------------------------------------------------

    def listener(self) -> davey.DaveSession | None:
        """A human in the group, to hear the bot with."""
        for user_id in sorted(self.members):
            session = self.humans.get(user_id)
            if session is not None and session.ready:
                return session
        return None

    def open_bot_frame(self, frame: bytes) -> tuple[bytes, bool]:
        """The bot's opus frame without its E2EE layer, and whether it had one. A frame that fails to
        decrypt becomes opus silence, as a Discord client treats it."""
        if frame == OPUS_SILENCE or not frame.endswith(PROTOCOL_FRAME_MARKER):
            self.record.bot_frames_passthrough += 1
            return frame, False
        listener = self.listener()
        if listener is None:
            self.record.decrypt_failures += 1
            return OPUS_SILENCE, True
        try:
            plain = listener.decrypt(self.bot_user_id, davey.MediaType.audio, frame)
        except ValueError as exc:
            log.warning("could not decrypt the bot's DAVE frame: %s", exc)
            self.record.decrypt_failures += 1
            return OPUS_SILENCE, True
        self.record.bot_frames_decrypted += 1
        return plain, True

    def seal_human_frame(self, user_id: int, frame: bytes) -> bytes:
        """A human's opus frame as its Discord client sends it: E2EE once its group is ready."""
        session = self.humans.get(user_id)
        if session is None or not session.ready or frame == OPUS_SILENCE:
            return frame
        return session.encrypt_opus(frame)
