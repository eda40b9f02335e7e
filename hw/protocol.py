"""Constants of the host link protocol, shared by the RTL (hw/link.py, hw/top.py) and the host
(sw/link.py). Pure Python like hw/config.py, so both sides import the same numbers.

Frame: ``SYNC, type, length_lo, length_hi, payload..., crc_hi, crc_lo``; CRC-16/CCITT-FALSE
over ``type .. payload``.

A LOAD frame's payload is the sequence byte, then records of :attr:`LoadFormat.record_bytes`
bytes each: memory (:class:`ModelMemory`), PE, address and data, the last two little-endian in
as many bytes as the engine's widths need.
"""

import enum
from dataclasses import dataclass

__all__ = ["SYNC", "FrameType", "LinkError", "LoadFormat", "ModelMemory", "Status",
           "crc16_ccitt_false"]

SYNC = 0xA5


class FrameType(enum.IntEnum):
    """Frame types; the device answers each host frame with exactly one reply frame."""

    # host -> device
    START = 0x01  # begin an utterance
    FEATURES = 0x02  # one frame of activations, little-endian int16 each
    END = 0x03  # end of utterance: the device replies with WORDS
    LOAD = 0x04  # records written into the model's memories; only between utterances
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
    BAD_RECORD = 6  # a LOAD record names no memory word; nothing of the frame was written
    BUSY = 7  # a LOAD between START and END; nothing was written


class ModelMemory(enum.IntEnum):
    """The memory a LOAD record writes (``hw.spmv.engine.LoadTarget`` uses the same numbers)."""

    POINTER = 0  # a PE's column pointers: address = stored column (0..columns), data = entry
    ENTRY = 1  # a PE's entries: data = (code << index_bits) | z
    CODEBOOK = 2  # every layer's codebook: address = 16 * layer + code, data = signed value
    BIAS = 3  # the biases of every layer, one after another


@dataclass(frozen=True)
class LoadFormat:
    """The LOAD records one recognizer takes: their layout and what they may address.

    Parameters
    ----------
    pes : int
        PEs of the engine (POINTER and ENTRY records name one; the others send 0).
    depths : tuple of int
        Words of each :class:`ModelMemory`, in its order.
    address_bytes, data_bytes : int
        Little-endian bytes of a record's address and data.
    """

    pes: int
    depths: tuple
    address_bytes: int
    data_bytes: int

    @classmethod
    def for_recognizer(cls, spmv, layers: int) -> "LoadFormat":
        """The format of a recognizer with engine ``spmv`` (``hw.config.SpMVConfig``) running
        ``layers`` layers."""
        depths = [0] * len(ModelMemory)
        depths[ModelMemory.POINTER] = spmv.columns_stored + 1
        depths[ModelMemory.ENTRY] = spmv.entry_depth
        depths[ModelMemory.CODEBOOK] = 16 * layers
        depths[ModelMemory.BIAS] = spmv.biases_stored
        return cls(pes=spmv.pes, depths=tuple(depths),
                   address_bytes=-(-spmv.load_address_bits // 8),
                   data_bytes=-(-spmv.load_data_bits // 8))

    @property
    def record_bytes(self) -> int:
        """Bytes of one record."""
        return 2 + self.address_bytes + self.data_bytes

    def encode(self, memory: int, pe: int, address: int, value: int) -> bytes:
        """One record; ``value`` is stored in two's complement, cut to the memory's width by
        the device. Raises ``ValueError`` for a record the device would refuse."""
        if memory not in ModelMemory._value2member_map_:
            raise ValueError(f"memory must be one of {[int(m) for m in ModelMemory]}, not "
                             f"{memory!r}")
        if not 0 <= pe < self.pes:
            raise ValueError(f"pe must be 0..{self.pes - 1}, not {pe!r}")
        if not 0 <= address < self.depths[memory]:
            raise ValueError(f"{ModelMemory(memory).name} address must be 0.."
                             f"{self.depths[memory] - 1}, not {address!r}")
        bits = 8 * self.data_bytes
        if not -(1 << (bits - 1)) <= value < 1 << bits:
            raise ValueError(f"value {value!r} does not fit {self.data_bytes} data bytes")
        return (bytes([int(memory), pe]) + int(address).to_bytes(self.address_bytes, "little")
                + (int(value) & ((1 << bits) - 1)).to_bytes(self.data_bytes, "little"))


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
