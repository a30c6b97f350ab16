"""Incoming voice datagrams: RTP header parsing and `aead_xchacha20_poly1305_rtpsize` decryption.

rtpsize: the fixed header, any CSRCs and (X bit) the 4-byte extension preamble are the associated
data; the extension body and the opus payload are encrypted; the last 4 bytes are a nonce counter
(zero-padded to 24 bytes). Only opus audio (payload type 120) is returned; RTCP, video and anything
unreadable is classified so the receiver can skip it without raising in its socket thread.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError

OPUS_PAYLOAD_TYPE = 120
OPUS_SILENCE = b"\xf8\xff\xfe"
RTCP_TYPES = range(200, 205)  # byte 1 of SR, RR, SDES, BYE, APP
_NONCE = 4
_TAG = 16


class Skip(enum.Enum):
    """Why a datagram carries no audio for us."""

    SHORT = "too short"
    NOT_RTP = "not RTP version 2"
    RTCP = "RTCP"
    NOT_AUDIO = "not opus audio (video or other payload type)"
    DECRYPT = "transport decryption failed"


@dataclass(frozen=True, slots=True)
class AudioPacket:
    ssrc: int
    sequence: int
    timestamp: int
    opus: bytes  # still under DAVE's layer when the call uses it


def parse_audio(key: bytes, data: bytes) -> AudioPacket | Skip:
    """The opus payload of one datagram, or why there is none."""
    if len(data) < 12:
        return Skip.SHORT
    if data[0] >> 6 != 2:
        return Skip.NOT_RTP
    if data[1] in RTCP_TYPES:
        return Skip.RTCP
    if data[1] & 0x7F != OPUS_PAYLOAD_TYPE:
        return Skip.NOT_AUDIO
    aad_len = 12 + 4 * (data[0] & 0x0F)
    has_extension = bool(data[0] & 0x10)
    ext_words = 0
    if has_extension:
        if len(data) < aad_len + 4:
            return Skip.SHORT
        ext_words = struct.unpack_from(">H", data, aad_len + 2)[0]
        aad_len += 4
    if len(data) < aad_len + _TAG + _NONCE:
        return Skip.SHORT
    nonce = data[-_NONCE:] + bytes(20)
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(data[aad_len:-_NONCE], data[:aad_len], nonce, key)
    except CryptoError:
        return Skip.DECRYPT
    payload = plain[4 * ext_words:]
    if data[0] & 0x20 and payload:  # P bit: the last byte counts padding bytes
        payload = payload[:-payload[-1]]
    sequence, timestamp, ssrc = struct.unpack_from(">HII", data, 2)
    return AudioPacket(ssrc, sequence, timestamp, bytes(payload))
