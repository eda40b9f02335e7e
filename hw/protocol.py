"""Constants of the host link protocol, shared by the RTL (hw/link.py, hw/top.py) and the host
(sw/link.py). Pure Python like hw/config.py, so both sides import the same numbers.

Frame: ``SYNC, type, length_lo, length_hi, payload..., crc_hi, crc_lo``; CRC-16/CCITT-FALSE
over ``type .. payload``.
"""

import enum

__all__ = ["SYNC", "FrameType", "LinkError", "Status", "crc16_ccitt_false"]

SYNC = 0xA5


class FrameType(enum.IntEnum):
    """Frame types; the device answers each host frame with exactly one reply frame."""

    # host -> device
    START = 0x01  # begin an utterance
    FEATURES = 0x02  # one frame of activations, little-endian int16 each
    END = 0x03  # end of utterance: the device replies with WORDS
    # device -> host
    ACK = 0x81
    WORDS = 0x82  # little-endian uint16 word ids, then a uint16 status word
    ERROR = 0xE0  # one byte: a LinkError code


class LinkError(enum.IntEnum):
    """Codes of an ERROR reply."""

    BAD_CRC = 1
    TRUNCATED = 2
    OVERSIZED = 3
    UNKNOWN_TYPE = 4
    BAD_LENGTH = 5


class Status(enum.IntFlag):
    """Bits of the status word that ends a WORDS reply; 0: the words are the golden model's."""

    TRACE_OVERFLOW = 1 << 0  # the word trace memory ran out: words are missing
    SCORE_ERROR = 1 << 1  # a frame reached the Viterbi unit with the wrong number of scores
    WORDS_LOST = 1 << 2  # more words than LinkConfig.max_words: the rest were dropped
    REPLY_OVERFLOW = 1 << 15  # the host interface's own word limit (marks the last word kept)


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR)."""
    value = 0xFFFF
    for byte in data:
        value ^= byte << 8
        for _ in range(8):
            value = ((value << 1) ^ 0x1021) if value & 0x8000 else value << 1
            value &= 0xFFFF
    return value
