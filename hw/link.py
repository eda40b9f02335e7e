"""Framed, CRC-checked host link: frame receiver and frame sender over byte streams.

Frame (contract with ``sw/link.py``): ``SYNC, type, length_lo, length_hi, payload..., crc_hi,
crc_lo`` with CRC-16/CCITT-FALSE over ``type .. payload``. The receiver buffers the payload and
offers a frame only after its CRC matched, so a corrupted frame can never reach the recognizer.
On any error it waits until the line has been idle for ``idle_timeout_bytes`` byte times and
only then reports the error: the host has finished sending by then, and the parser is hunting
for a fresh SYNC, so the next good frame decodes whatever came before it.
"""

from amaranth import Module, Signal
from amaranth.lib import crc, data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import LinkConfig
from hw.memory import CollisionFreeMemory
from hw.protocol import SYNC, LinkError

__all__ = ["FrameReceiver", "FrameSender", "LinkError"]


def frame_header_layout(config: LinkConfig) -> data.StructLayout:
    """Payload of the receiver's ``frames`` stream: the frame type and payload length."""
    return data.StructLayout({"type": 8, "length": config.length_bits})


def _crc16():
    return crc.catalog.CRC16_CCITT_FALSE(data_width=8).create()


class FrameReceiver(wiring.Component):
    """Turns received bytes into CRC-checked frames held in a payload buffer.

    ``frames`` offers ``(type, length)`` of a good frame; while it is offered the payload is
    read through ``read_address`` / ``read_data`` (one cycle latency) and accepting it frees the
    buffer. ``errors`` offers a :class:`LinkError` code after a bad frame. Bytes that arrive
    while a frame is held are dropped: the host waits for each reply before it sends again.

    Parameters
    ----------
    config : LinkConfig
        Buffer size (``max_payload``) and idle timeout.
    """

    def __init__(self, config: LinkConfig):
        if not isinstance(config, LinkConfig):
            raise TypeError(f"config must be a LinkConfig, not {config!r}")
        self.config = config
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "frames": Out(stream.Signature(frame_header_layout(config))),
            "errors": Out(stream.Signature(8)),
            "read_address": In(range(config.max_payload)),
            "read_data": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.buffer = buffer = CollisionFreeMemory(shape=8, depth=config.max_payload,
                                                           init=[])
        write = buffer.write_port()
        read = buffer.read_port()
        m.submodules.crc = checker = _crc16()
        m.d.comb += [read.addr.eq(self.read_address), self.read_data.eq(read.data)]

        idle = Signal(range(config.idle_timeout_cycles + 1))
        timed_out = Signal()
        byte = self.bytes.payload
        got = Signal()
        m.d.comb += [self.bytes.ready.eq(1), got.eq(self.bytes.valid),
                     timed_out.eq(idle == config.idle_timeout_cycles)]
        with m.If(got):
            m.d.sync += idle.eq(0)
        with m.Elif(~timed_out):
            m.d.sync += idle.eq(idle + 1)

        header = Signal(frame_header_layout(config))
        length_lo = Signal(8)
        count = Signal(range(config.max_payload + 1))
        # the next payload byte is the last: a register, set a byte ahead, so that the length
        # comparison does not run on into the state's enable with the host's ready (the
        # iCEBreaker's worst path, 31.3 ns, 14 logic levels)
        last_byte = Signal()
        error = Signal(8)
        m.d.comb += [checker.data.eq(byte), self.frames.payload.eq(header),
                     self.errors.payload.eq(error)]

        def fail(code, *, line_idle=False):
            m.d.sync += error.eq(code)
            m.next = "REPORT" if line_idle else "DRAIN"

        receiving = ("TYPE", "LENGTH_LO", "LENGTH_HI", "PAYLOAD", "CRC_HI", "CRC_LO")
        with m.FSM():
            with m.State("HUNT"):
                with m.If(got & (byte == SYNC)):
                    m.d.comb += checker.start.eq(1)
                    m.next = "TYPE"
            for state in receiving:
                with m.State(state):
                    with m.If(got):
                        m.d.comb += checker.valid.eq(1)
                        if state == "TYPE":
                            m.d.sync += header.type.eq(byte)
                            m.next = "LENGTH_LO"
                        elif state == "LENGTH_LO":
                            m.d.sync += length_lo.eq(byte)
                            m.next = "LENGTH_HI"
                        elif state == "LENGTH_HI":
                            length = byte << 8 | length_lo
                            m.d.sync += count.eq(0)
                            with m.If(length > config.max_payload):
                                fail(LinkError.OVERSIZED)
                            with m.Else():
                                m.d.sync += header.length.eq(length)
                                m.next = "PAYLOAD_OR_CRC"
                        elif state == "PAYLOAD":
                            m.d.comb += [write.addr.eq(count), write.data.eq(byte),
                                         write.en.eq(1)]
                            m.d.sync += [count.eq(count + 1),
                                         last_byte.eq(count + 2 == header.length)]
                            with m.If(last_byte):
                                m.next = "CRC_HI"
                        elif state == "CRC_HI":
                            m.next = "CRC_LO"
                        else:  # CRC_LO: the CRC register holds the residue one cycle later
                            m.next = "CHECK"
                    with m.Elif(timed_out):
                        fail(LinkError.TRUNCATED, line_idle=True)
            with m.State("PAYLOAD_OR_CRC"):
                # One cycle to branch on the stored length (bytes come at most every 10 bits).
                m.d.sync += last_byte.eq(header.length == 1)
                with m.If(header.length == 0):
                    m.next = "CRC_HI"
                with m.Else():
                    m.next = "PAYLOAD"
            with m.State("CHECK"):
                with m.If(checker.match_detected):
                    m.next = "HOLD"
                with m.Else():
                    fail(LinkError.BAD_CRC)
            with m.State("HOLD"):
                m.d.comb += self.frames.valid.eq(1)
                with m.If(self.frames.ready):
                    m.next = "HUNT"
            with m.State("DRAIN"):
                with m.If(timed_out):
                    m.next = "REPORT"
            with m.State("REPORT"):
                m.d.comb += self.errors.valid.eq(1)
                with m.If(self.errors.ready):
                    m.next = "HUNT"
        return m


class FrameSender(wiring.Component):
    """Sends one frame: header from ``frames``, payload bytes from ``payload``, then the CRC.

    Offer ``(type, length)`` on ``frames``; exactly ``length`` bytes are then taken from
    ``payload``. Bytes leave on ``bytes`` (to a :class:`~hw.uart.UARTTransmitter`).

    Parameters
    ----------
    config : LinkConfig
        Largest payload length.
    """

    def __init__(self, config: LinkConfig):
        if not isinstance(config, LinkConfig):
            raise TypeError(f"config must be a LinkConfig, not {config!r}")
        self.config = config
        super().__init__({
            "frames": In(stream.Signature(frame_header_layout(config))),
            "payload": In(stream.Signature(8)),
            "bytes": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = generator = _crc16()
        header = Signal(frame_header_layout(self.config))
        length = Signal(16)
        count = Signal(16)
        # the next payload byte is the last: a register set a byte ahead, as in the receiver, so
        # that the 16-bit count comparison does not run on into the state (the iCEBreaker's
        # worst path, 32.9 ns, 16 logic levels)
        last_byte = Signal()
        sent = Signal()
        m.d.comb += sent.eq(self.bytes.valid & self.bytes.ready)

        def emit(value, next_state, *, add_to_crc=True):
            m.d.comb += [self.bytes.payload.eq(value), self.bytes.valid.eq(1)]
            if add_to_crc:
                m.d.comb += [generator.data.eq(value), generator.valid.eq(sent)]
            with m.If(sent):
                m.next = next_state

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.frames.ready.eq(1)
                with m.If(self.frames.valid):
                    m.d.sync += [header.eq(self.frames.payload),
                                 length.eq(self.frames.payload.length), count.eq(0)]
                    m.d.comb += generator.start.eq(1)
                    m.next = "SYNC"
            with m.State("SYNC"):
                emit(SYNC, "TYPE", add_to_crc=False)
            with m.State("TYPE"):
                emit(header.type, "LENGTH_LO")
            with m.State("LENGTH_LO"):
                emit(length[:8], "LENGTH_HI")
            with m.State("LENGTH_HI"):
                m.d.sync += last_byte.eq(length == 1)
                with m.If(length == 0):
                    emit(length[8:], "CRC_HI")
                with m.Else():
                    emit(length[8:], "PAYLOAD")
            with m.State("PAYLOAD"):
                m.d.comb += [self.bytes.payload.eq(self.payload.payload),
                             self.bytes.valid.eq(self.payload.valid),
                             self.payload.ready.eq(self.bytes.ready),
                             generator.data.eq(self.payload.payload),
                             generator.valid.eq(sent)]
                with m.If(sent):
                    m.d.sync += [count.eq(count + 1), last_byte.eq(count + 2 == length)]
                    with m.If(last_byte):
                        m.next = "CRC_HI"  # the CRC register is updated by then
            with m.State("CRC_HI"):
                emit(generator.crc[8:], "CRC_LO", add_to_crc=False)
            with m.State("CRC_LO"):
                emit(generator.crc[:8], "IDLE", add_to_crc=False)
        return m
