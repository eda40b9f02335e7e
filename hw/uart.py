"""8N1 UART receiver and transmitter with byte streams (no kept Amaranth package has one)."""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from hw.config import LinkConfig

__all__ = ["UARTReceiver", "UARTTransmitter"]


def _check_config(config):
    if not isinstance(config, LinkConfig):
        raise TypeError(f"config must be a LinkConfig, not {config!r}")


class UARTReceiver(wiring.Component):
    """Receives 8N1 bytes on ``rx`` and offers them on the ``bytes`` stream.

    The line is sampled in the middle of each bit. A byte that arrives while the previous one
    is still unaccepted is dropped and ``overrun`` pulses; a missing stop bit pulses
    ``framing_error`` and the byte is dropped (the protocol's CRC then rejects the frame).

    Parameters
    ----------
    config : LinkConfig
        Clock and baud rate.
    """

    def __init__(self, config: LinkConfig):
        _check_config(config)
        self.config = config
        super().__init__({
            "rx": In(1, init=1),
            "bytes": Out(stream.Signature(8)),
            "overrun": Out(1),
            "framing_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self.config.divisor
        rx = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(divisor * 3 // 2 + 1))
        bit_index = Signal(range(9))
        shift = Signal(8)
        m.d.sync += [self.overrun.eq(0), self.framing_error.eq(0)]
        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # Wait 1.5 bit times to land in the middle of data bit 0.
                    m.d.sync += [timer.eq(divisor * 3 // 2 - 1), bit_index.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)),
                                 timer.eq(divisor - 1), bit_index.eq(bit_index + 1)]
                    with m.If(bit_index == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(~rx):
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
                    with m.Else():
                        with m.If(self.bytes.valid & ~self.bytes.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                # A low stop bit: wait for the line to return high before hunting again.
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """Sends the bytes of the ``bytes`` stream as 8N1 on ``tx``.

    Parameters
    ----------
    config : LinkConfig
        Clock and baud rate.
    """

    def __init__(self, config: LinkConfig):
        _check_config(config)
        self.config = config
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self.config.divisor
        timer = Signal(range(divisor))
        frame = Signal(10, init=0x3FF)  # start bit, 8 data bits LSB first, stop bit
        bits_left = Signal(range(11))
        m.d.comb += [self.tx.eq(frame[0]), self.bytes.ready.eq(bits_left == 0)]
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += [frame.eq(1 << 9 | self.bytes.payload << 1), bits_left.eq(10),
                         timer.eq(divisor - 1)]
        with m.Elif(bits_left != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [frame.eq(1 << 9 | frame >> 1), timer.eq(divisor - 1),
                             bits_left.eq(bits_left - 1)]
        return m
