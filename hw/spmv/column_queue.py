"""The PE's queue of columns whose pointers have been read: a first-in first-out queue whose
write does not wait for whether the entry is kept.

A column found empty (start == end) is dropped instead of queued. With a library FIFO that
decision is the write enable, and so the enable of every storage flip-flop: on the iCEBreaker
the pointer comparison then ran on through the FIFO's write logic into its storage (26.6 ns,
the worst path at two of eight seeds). Here the entry is written into the free slot whenever
one is offered, and ``keep`` only decides whether the write pointer and the level move on: a
dropped entry is overwritten by the next one.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["ColumnQueue"]


class ColumnQueue(wiring.Component):
    """``depth`` entries of ``width`` bits, first word fall-through.

    ``w_en`` writes ``w_data`` into the slot after the last kept entry; ``w_keep`` (same cycle)
    keeps it. The writer must never offer an entry when the queue is full (the PE counts the
    columns in flight before it reads their pointers): the slot written is then always free.
    ``r_rdy`` says the queue holds an entry, shown on ``r_data``; ``r_en`` takes it.

    Parameters
    ----------
    width : int
        Bits of one entry.
    depth : int
        Entries held, at least 1.
    """

    def __init__(self, width: int, depth: int):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        self.width = width
        self.depth = depth
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_keep": In(1),
            "r_data": Out(width), "r_rdy": Out(1), "r_en": In(1),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        # a memory read without a clock, as the library FIFO keeps its entries: LUT RAM on the
        # ECP5 (in flip-flops and a multiplexer the ULX3S built at 73.81 MHz, not 85.98: +3,700 FF),
        # flip-flops on the iCE40
        m.submodules.storage = storage = Memory(shape=self.width, depth=depth, init=[])
        write = storage.write_port()
        read = storage.read_port(domain="comb")
        write_at = Signal(range(depth))
        read_at = Signal(range(depth))

        def after(pointer):
            return Mux(pointer == depth - 1, 0, pointer + 1)

        m.d.comb += [write.addr.eq(write_at), write.data.eq(self.w_data), write.en.eq(self.w_en),
                     read.addr.eq(read_at)]
        kept = Signal()
        taken = Signal()
        m.d.comb += [kept.eq(self.w_en & self.w_keep), taken.eq(self.r_en & self.r_rdy),
                     self.r_rdy.eq(self.level != 0), self.r_data.eq(read.data)]
        with m.If(kept):
            m.d.sync += write_at.eq(after(write_at))
        with m.If(taken):
            m.d.sync += read_at.eq(after(read_at))
        m.d.sync += self.level.eq(self.level + kept - taken)
        return m
