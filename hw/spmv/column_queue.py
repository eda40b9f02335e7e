"""The PE's queue of columns whose pointers have been read: a first-in first-out queue whose
write does not wait for whether the entry is kept.

A column found empty (start == end) is dropped instead of queued. With a library FIFO that
decision is the write enable, and so the enable of every storage flip-flop: on the iCEBreaker
the pointer comparison then ran on through the FIFO's write logic into its storage (26.6 ns,
the worst path at two of eight seeds). Here the entry is written into the free slot whenever
one is offered, and ``keep`` only decides whether the write pointer and the level move on: a
dropped entry is overwritten by the next one.

The entries are kept in a memory read without a clock (LUT RAM on the ECP5) or in a register
array (``storage="registers"``): the iCE40 maps both to flip-flops, and the register array
placed and routed faster there (mean of 16 seeds 39.75 MHz against 39.10), while on the ECP5
it cost 3,700 flip-flops and 12 MHz.
"""

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.config import SpMVConfig

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
    storage : str
        ``"memory"`` (``amaranth.lib.memory.Memory`` with a combinational read port) or
        ``"registers"`` (an array of registers read through a multiplexer).
    """

    STORAGES = SpMVConfig.COLUMN_QUEUE_MEMORIES  # "memory", "registers"

    def __init__(self, width: int, depth: int, storage: str = "memory"):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        if storage not in self.STORAGES:
            raise ValueError(f"storage must be one of {', '.join(self.STORAGES)}, "
                             f"not {storage!r}")
        self.width = width
        self.depth = depth
        self.storage = storage
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_keep": In(1),
            "r_data": Out(width), "r_rdy": Out(1), "r_en": In(1),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        write_at = Signal(range(depth))
        read_at = Signal(range(depth))
        entry = self._storage(m, write_at, read_at)

        def after(pointer):
            return Mux(pointer == depth - 1, 0, pointer + 1)

        kept = Signal()
        taken = Signal()
        m.d.comb += [kept.eq(self.w_en & self.w_keep), taken.eq(self.r_en & self.r_rdy),
                     self.r_rdy.eq(self.level != 0), self.r_data.eq(entry)]
        with m.If(kept):
            m.d.sync += write_at.eq(after(write_at))
        with m.If(taken):
            m.d.sync += read_at.eq(after(read_at))
        m.d.sync += self.level.eq(self.level + kept - taken)
        return m

    def _storage(self, m, write_at, read_at):
        """Write ``w_data`` at ``write_at`` on every ``w_en``; return the entry at ``read_at``
        (combinational)."""
        if self.storage == "registers":
            entries = Array(Signal(self.width, name=f"entry{index}")
                            for index in range(self.depth))
            with m.If(self.w_en):
                m.d.sync += entries[write_at].eq(self.w_data)
            return entries[read_at]
        m.submodules.storage = storage = Memory(shape=self.width, depth=self.depth, init=[])
        write = storage.write_port()
        read = storage.read_port(domain="comb")
        m.d.comb += [write.addr.eq(write_at), write.data.eq(self.w_data), write.en.eq(self.w_en),
                     read.addr.eq(read_at)]
        return read.data
