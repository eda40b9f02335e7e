"""Host side of the UART link: frames, replies, timeouts and retries.

Stop-and-wait: the host sends one frame and waits for its one reply. Every host frame starts
its payload with a sequence number; the device answers a repeated sequence number with its
previous reply without acting again, so a retry after a lost reply can never feed a frame of
features twice. A reply whose CRC does not match, an ERROR reply or silence past the timeout
makes the host send the same frame again, up to ``retries`` times, and then raise — the host
never returns words from a frame it could not verify.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hw.config import LinkConfig
from hw.protocol import SYNC, FrameType, LinkError, LoadFormat, Status, crc16_ccitt_false

__all__ = [
    "Frame",
    "FrameDecoder",
    "HostLink",
    "LinkFailure",
    "LinkTimeout",
    "Transport",
    "encode_frame",
    "load_payloads",
]


class LinkFailure(RuntimeError):
    """The device did not give a valid answer within the allowed retries."""


class LinkTimeout(LinkFailure):
    """No complete reply arrived before the timeout."""


@dataclass(frozen=True)
class Frame:
    """A decoded frame: its type and payload."""

    type: int
    payload: bytes


def encode_frame(frame_type: int, payload: bytes, *, config: LinkConfig | None = None) -> bytes:
    """The bytes of one frame: SYNC, type, length, payload, CRC-16 (high byte first)."""
    if not 0 <= int(frame_type) <= 255:
        raise ValueError(f"frame type must be a byte (0..255), not {frame_type!r}")
    limit = (config or LinkConfig()).max_payload
    if len(payload) > limit:
        raise ValueError(f"payload of {len(payload)} bytes exceeds max_payload={limit}")
    body = bytes([int(frame_type)]) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes([SYNC]) + body + struct.pack(">H", crc16_ccitt_false(body))


class FrameDecoder:
    """Incremental parser of a byte stream into frames; bytes outside frames are skipped.

    ``feed`` returns the complete frames found; a frame whose CRC does not match is counted in
    :attr:`bad_frames` and dropped.
    """

    def __init__(self, *, max_payload: int = 65535):
        self.max_payload = max_payload
        self.buffer = bytearray()
        self.bad_frames = 0

    def feed(self, chunk: bytes) -> list[Frame]:
        """Add received bytes; return the frames completed by them."""
        self.buffer += chunk
        frames = []
        while True:
            start = self.buffer.find(SYNC)
            if start < 0:
                self.buffer.clear()
                return frames
            del self.buffer[:start]
            if len(self.buffer) < 4:
                return frames
            length = self.buffer[2] | self.buffer[3] << 8
            if length > self.max_payload:
                del self.buffer[:1]  # a false SYNC: hunt again from the next byte
                continue
            total = 1 + 3 + length + 2
            if len(self.buffer) < total:
                return frames
            body = bytes(self.buffer[1:4 + length])
            received = self.buffer[4 + length] << 8 | self.buffer[5 + length]
            if received == crc16_ccitt_false(body):
                frames.append(Frame(body[0], body[3:]))
                del self.buffer[:total]
            else:
                self.bad_frames += 1
                del self.buffer[:1]


def load_payloads(records, load_format: LoadFormat, *, max_payload: int) -> list[bytes]:
    """The bodies (sequence byte not included) of the LOAD frames that write ``records``
    (``(memory, pe, address, value)``), as many records per frame as ``max_payload`` allows.
    Every record is checked first, so a bad one raises ``ValueError`` before anything is sent."""
    per_frame = (max_payload - 1) // load_format.record_bytes
    if per_frame < 1:
        raise ValueError(f"max_payload {max_payload} holds no LOAD record of "
                         f"{load_format.record_bytes} bytes")
    encoded = [load_format.encode(*record) for record in records]
    return [b"".join(encoded[i:i + per_frame]) for i in range(0, len(encoded), per_frame)]


class Transport(Protocol):
    """What the link needs of a serial port (pyserial's ``Serial`` fits)."""

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int) -> bytes: ...


class HostLink:
    """Sends frames to the device and returns its verified replies.

    Parameters
    ----------
    transport : Transport
        A byte pipe whose ``read`` returns what arrived (possibly nothing) without blocking
        longer than its own timeout.
    config : LinkConfig
        Payload limit and idle timeout of the device.
    timeout : float
        Seconds to wait for a reply.
    retries : int
        Extra attempts after an ERROR reply, a corrupted reply or a timeout.
    """

    def __init__(self, transport: Transport, *, config: LinkConfig | None = None,
                 timeout: float = 1.0, retries: int = 3):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, not {retries!r}")
        self.transport = transport
        self.config = config or LinkConfig()
        self.timeout = timeout
        self.retries = retries
        self.decoder = FrameDecoder(max_payload=self.config.max_payload)
        self.sequence = 0
        self.errors_seen: list[int] = []

    def _await_reply(self) -> Frame:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            chunk = self.transport.read(64)
            if chunk:
                frames = self.decoder.feed(chunk)
                if frames:
                    return frames[0]
        raise LinkTimeout(f"no reply within {self.timeout} s")

    def request(self, frame_type: FrameType, body: bytes = b"") -> Frame:
        """Send one frame (sequence number prepended) and return its verified reply."""
        self.sequence = (self.sequence + 1) & 0xFF
        frame = encode_frame(frame_type, bytes([self.sequence]) + body, config=self.config)
        problem = "no attempt made"
        for _attempt in range(self.retries + 1):
            self.transport.write(frame)
            try:
                reply = self._await_reply()
            except LinkTimeout as error:
                problem = str(error)
                continue
            if reply.type == FrameType.ERROR:
                code = reply.payload[0] if reply.payload else 0
                self.errors_seen.append(code)
                name = LinkError(code).name if code in LinkError._value2member_map_ else code
                problem = f"device replied ERROR {name}"
                continue
            return reply
        raise LinkFailure(f"{FrameType(frame_type).name} frame failed after "
                          f"{self.retries + 1} attempts: {problem}")

    def recognize(self, activations: np.ndarray) -> list[int]:
        """Send one utterance (``int16[frames, values]``: what the device takes per frame,
        ``sw.system.SystemDesign.host_frames``); return the word ids. A non-zero status
        (:class:`hw.protocol.Status`) raises :class:`LinkFailure`."""
        words, status = self.utterance(activations)
        if status:
            raise LinkFailure(f"device reports status 0x{status:04x} ({Status(status)!r})")
        return words

    def utterance(self, activations: np.ndarray) -> tuple[list[int], int]:
        """Send one utterance; return the word ids and the device's status word."""
        activations = np.asarray(activations)
        if activations.ndim != 2 or activations.dtype.kind not in "iu":
            raise ValueError(f"activations must be a 2-D integer array, not "
                             f"{activations.dtype} of shape {activations.shape}")
        if activations.size and (activations.min() < -32768 or activations.max() > 32767):
            raise ValueError("activations must fit int16")
        self._expect(self.request(FrameType.START), FrameType.ACK)
        for frame in activations.astype("<i2"):
            self._expect(self.request(FrameType.FEATURES, frame.tobytes()), FrameType.ACK)
        reply = self._expect(self.request(FrameType.END), FrameType.WORDS)
        words = np.frombuffer(reply.payload, dtype="<u2")
        if words.size == 0:
            raise LinkFailure("WORDS reply has no status word")
        return [int(w) for w in words[:-1]], int(words[-1])

    def load(self, records, load_format: LoadFormat, *, progress=None) -> int:
        """Write ``records`` (``(memory, pe, address, value)``, e.g.
        ``sw.model_image.ModelImage.load_records()``) into the device's model memories with
        LOAD frames; return the frames sent. ``progress(frames_done, frames_total)`` is called
        after each. Only between utterances: the device answers ERROR BUSY during one."""
        payloads = load_payloads(records, load_format, max_payload=self.config.max_payload)
        for done, body in enumerate(payloads, 1):
            self._expect(self.request(FrameType.LOAD, body), FrameType.ACK)
            if progress is not None:
                progress(done, len(payloads))
        return len(payloads)

    @staticmethod
    def _expect(reply: Frame, frame_type: FrameType) -> Frame:
        if reply.type != frame_type:
            raise LinkFailure(f"expected a {frame_type.name} reply, got type 0x{reply.type:02x}")
        return reply
