"""Discord's voice UDP wire formats: IP discovery, RTP/RTCP with `aead_xchacha20_poly1305_rtpsize`.

Kept free of sockets and state so tests can build or take apart the very bytes the emulator sends.
rtpsize: the unencrypted header (12 bytes, CSRCs, and the 4-byte extension preamble when the X bit
is set) is the AEAD's associated data; the extension body and the payload are encrypted; a 4-byte
big-endian counter is appended and, zero-padded to 24 bytes, is the nonce.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt, crypto_aead_xchacha20poly1305_ietf_encrypt
from nacl.exceptions import CryptoError

MODE_XCHACHA = "aead_xchacha20_poly1305_rtpsize"
OPUS_PAYLOAD_TYPE = 0x78  # 120, what Discord and discord.py use for opus
VIDEO_PAYLOAD_TYPE = 0x65  # 101, a video payload type Discord clients send (H264)
RTCP_PAYLOAD_TYPES = range(200, 205)  # SR, RR, SDES, BYE, APP: byte 1 of an RTCP packet
OPUS_SILENCE = b"\xf8\xff\xfe"
BEDE_PROFILE = 0xBEDE  # RFC 8285 one-byte-header extensions
DISCOVERY_SIZE = 74
SAMPLES_PER_FRAME = 960  # 20 ms at 48 kHz: the RTP timestamp step
NONCE_SIZE = 4


class PacketError(ValueError):
    """A datagram that is not what it claims to be (too short, bad version, failed authentication)."""


def one_byte_extension(*elements: tuple[int, bytes]) -> bytes:
    """An RFC 8285 one-byte-header extension body, zero-padded to 32-bit words."""
    body = bytearray()
    for ext_id, data in elements:
        if not 1 <= ext_id <= 14 or not 1 <= len(data) <= 16:
            raise ValueError(f"bad one-byte extension element id={ext_id} len={len(data)}")
        body.append(ext_id << 4 | (len(data) - 1))
        body += data
    body += bytes(-len(body) % 4)
    return bytes(body)


# What Discord clients typically carry: one element (here id 1, one byte), padded to a word.
DEFAULT_EXTENSION = one_byte_extension((1, b"\x00"))


def _nonce(counter: int) -> bytes:
    return struct.pack(">I", counter) + bytes(20)


def encrypt_rtpsize(key: bytes, aad: bytes, plaintext: bytes, counter: int) -> bytes:
    """`aad | ciphertext+tag | counter(4)` as sent on the wire."""
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, _nonce(counter), key)
    return aad + sealed + struct.pack(">I", counter)


def decrypt_rtpsize(key: bytes, packet: bytes, aad_len: int) -> tuple[bytes, int]:
    """Plaintext and nonce counter of an rtpsize packet whose first `aad_len` bytes are the clear header."""
    if len(packet) < aad_len + 16 + NONCE_SIZE:
        raise PacketError(f"packet of {len(packet)} bytes is too short")
    counter = struct.unpack(">I", packet[-NONCE_SIZE:])[0]
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
            packet[aad_len:-NONCE_SIZE], packet[:aad_len], _nonce(counter), key)
    except CryptoError as exc:
        raise PacketError(f"decryption failed: {exc}") from exc
    return plain, counter


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One decrypted RTP packet."""

    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    ssrc: int
    extension_profile: int | None
    extension: bytes  # the decrypted extension body (empty when there is none)
    payload: bytes  # opus (or video) payload with the extension body stripped
    nonce: int


def build_rtp(key: bytes, *, sequence: int, timestamp: int, ssrc: int, payload: bytes, nonce: int,
              payload_type: int = OPUS_PAYLOAD_TYPE, extension: bytes | None = DEFAULT_EXTENSION,
              marker: bool = False) -> bytes:
    """An encrypted RTP packet as Discord's SFU forwards a user's audio (X bit and a 0xBEDE extension)."""
    first = 0x80 | (0x10 if extension is not None else 0)
    header = struct.pack(">BBHII", first, (0x80 if marker else 0) | payload_type,
                         sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    plaintext = payload
    if extension is not None:
        if len(extension) % 4:
            raise ValueError("extension body must be whole 32-bit words")
        header += struct.pack(">HH", BEDE_PROFILE, len(extension) // 4)
        plaintext = extension + payload
    return encrypt_rtpsize(key, header, plaintext, nonce)


def parse_rtp(key: bytes, packet: bytes) -> RtpPacket:
    """Decrypt an rtpsize RTP packet and strip its header extension body."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        raise PacketError("not an RTP version 2 packet")
    first, second, sequence, timestamp, ssrc = struct.unpack_from(">BBHII", packet)
    aad_len = 12 + 4 * (first & 0x0F)
    has_extension = bool(first & 0x10)
    profile = None
    words = 0
    if has_extension:
        if len(packet) < aad_len + 4:
            raise PacketError("truncated extension preamble")
        profile, words = struct.unpack_from(">HH", packet, aad_len)
        aad_len += 4
    plain, counter = decrypt_rtpsize(key, packet, aad_len)
    if first & 0x20 and plain:  # padding: the last byte counts the padding bytes
        plain = plain[: len(plain) - plain[-1]]
    extension, payload = plain[: 4 * words], plain[4 * words:]
    return RtpPacket(second & 0x7F, bool(second & 0x80), sequence, timestamp, ssrc,
                     profile, extension, payload, counter)


def is_rtcp(packet: bytes) -> bool:
    return len(packet) >= 8 and packet[1] in RTCP_PAYLOAD_TYPES


def build_rtcp_sender_report(key: bytes, *, ssrc: int, nonce: int, rtp_timestamp: int = 0,
                             packets: int = 0, octets: int = 0) -> bytes:
    """An encrypted RTCP sender report (PT 200): the 8-byte RTCP header is the associated data."""
    header = struct.pack(">BBHI", 0x80, 200, 6, ssrc)
    sender_info = struct.pack(">QIII", 0, rtp_timestamp & 0xFFFFFFFF, packets, octets)
    return encrypt_rtpsize(key, header, sender_info, nonce)


def build_discovery_request(ssrc: int) -> bytes:
    return struct.pack(">HHI", 1, 70, ssrc) + bytes(66)


def build_discovery_reply(ssrc: int, ip: str, port: int) -> bytes:
    """Type 2, length 70, SSRC, the address NUL-terminated from byte 8, the port big-endian at the end."""
    address = ip.encode("ascii")
    if len(address) >= 64:
        raise ValueError("address too long for IP discovery")
    return struct.pack(">HHI", 2, 70, ssrc) + address.ljust(64, b"\x00") + struct.pack(">H", port)


@dataclass(frozen=True, slots=True)
class Discovery:
    kind: int  # 1 request, 2 reply
    ssrc: int
    ip: str
    port: int


def parse_discovery(packet: bytes) -> Discovery:
    if len(packet) != DISCOVERY_SIZE:
        raise PacketError(f"IP discovery packets are {DISCOVERY_SIZE} bytes, got {len(packet)}")
    kind, length, ssrc = struct.unpack_from(">HHI", packet)
    if kind not in (1, 2) or length != 70:
        raise PacketError(f"not an IP discovery packet (type {kind}, length {length})")
    ip = packet[8: packet.index(0, 8)].decode("ascii") if kind == 2 else ""
    return Discovery(kind, ssrc, ip, struct.unpack_from(">H", packet, DISCOVERY_SIZE - 2)[0])


def is_discovery(packet: bytes) -> bool:
    return len(packet) == DISCOVERY_SIZE and packet[0] == 0 and packet[1] in (1, 2) and packet[2:4] == b"\x00\x46"
