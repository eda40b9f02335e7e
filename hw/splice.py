"""Context splicing in the core: the host sends each frame once, the core stacks the context.

The acoustic model's input for frame ``t`` is frames ``t - c .. t + c`` side by side (edge frames
repeated). Sent spliced, every frame crosses the link ``2c + 1`` times (eleven for the digit
model's ±5). :class:`ContextGather` takes the frames themselves, the first repeated ``c``
times before them and the last ``c`` times after, so that spliced frame ``t`` is frames
``t .. t + 2c`` of what arrives, and it gathers them into batches as
:class:`hw.batching.FrameGather` does.

Layout: the frames that arrive go round ``batch`` banks, frame ``p`` into bank ``p % batch`` at
slot ``(p // batch) % slots``. Column ``k * frame_values + v`` of a batch of spliced frames
``t0 .. t0 + batch - 1`` (``t0`` a multiple of ``batch``) needs value ``v`` of frames
``t0 + k .. t0 + k + batch - 1``: one from each bank, every bank read once, so a whole column
comes out in one cycle; lane ``f`` takes bank ``(f + k) % batch``. A batch reads
``batch + 2c`` frames, and ``slots`` leaves one slot beyond them, so the next batch arrives
while this one is read.
"""

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring

from hw.batching import gather_signature
from hw.config import SpMVConfig
from hw.memory import CollisionFreeMemory
from hw.spmv.lanes import lanes_of

__all__ = ["ContextGather"]


class ContextGather(wiring.Component):
    """Splices ±``context`` frames and gathers ``config.batch`` spliced frames into one batch.

    The same ports as :class:`hw.batching.FrameGather`, but ``read_data`` comes two cycles
    after ``read_next`` (:attr:`READ_LATENCY`); ``features`` takes frames of
    ``frame_values`` values, padded as the module docstring says, and a batch's columns are
    ``(2 * context + 1) * frame_values`` long. Spliced frame ``t`` is ready when frame
    ``t + 2c`` has arrived; after ``finish``, the frames left over form the last batch.

    Parameters
    ----------
    config : SpMVConfig
        ``batch`` (lanes and banks) and ``act_width``.
    frame_values : int
        Values per frame the host sends.
    context : int
        Frames of context on each side (1 or more).
    """

    # cycles from ``read_next`` to its ``read_data``: the banks' data is registered before the
    # lanes are rotated; behind the block RAM's clock-to-out the rotation was the ECP5's worst
    # path at batch 8 (13.9 ns, 71.8 MHz)
    READ_LATENCY = 2

    def __init__(self, config: SpMVConfig, frame_values: int, context: int):
        if not isinstance(config, SpMVConfig):
            raise TypeError(f"config must be an SpMVConfig, not {config!r}")
        if isinstance(context, bool) or not isinstance(context, int) or context < 1:
            raise ValueError(f"context must be an int of 1 or more, not {context!r}")
        window = 2 * context + 1
        if (isinstance(frame_values, bool) or not isinstance(frame_values, int)
                or not 1 <= frame_values <= config.max_cols // window):
            raise ValueError(f"frame_values must be 1..{config.max_cols // window} (SpMVConfig."
                             f"max_cols {config.max_cols} over {window} frames), "
                             f"not {frame_values!r}")
        self.config, self.frame_values, self.context = config, frame_values, context
        self.window = window
        # slots a batch reads, and one more that the next batch fills meanwhile
        self.slots = (config.batch + 2 * context - 1) // config.batch + 2
        super().__init__(gather_signature(config))

    def elaborate(self, platform):
        m = Module()
        batch, values, slots = self.config.batch, self.frame_values, self.slots
        context = self.context
        value_bits = (values - 1).bit_length()  # a slot is a power of two: its address a Cat

        banks = []
        for bank in range(batch):
            memory = CollisionFreeMemory(shape=signed(self.config.act_width),
                                         depth=slots << value_bits, init=[])
            m.submodules[f"bank{bank}"] = memory
            banks.append((memory.write_port(), memory.read_port()))

        # frames arrived beyond the first of the batch being read (or to be read next)
        ahead = Signal(range(slots * batch + 1))
        run_slot = Signal(range(slots))
        run_frames = Signal(range(batch + 1))  # the batch's frames, as offered
        spliced = Signal(range(slots * batch + 1))  # spliced frames ready from there
        m.d.comb += spliced.eq(Mux(ahead > 2 * context, ahead - 2 * context, 0))

        # Writes: frame by frame round the banks.
        write_bank = Signal(range(batch))
        write_slot = Signal(range(slots))
        write_value = Signal(range(values))
        taken = self.features.valid & self.features.ready
        arrived = Signal()
        m.d.comb += [self.features.ready.eq((ahead < slots * batch) & ~self.start),
                     arrived.eq(taken & (write_value == values - 1))]
        for bank, (write, _) in enumerate(banks):
            m.d.comb += [write.addr.eq(Cat(write_value, write_slot)),
                         write.data.eq(self.features.payload),
                         write.en.eq(taken & (write_bank == bank))]
        with m.If(taken):
            m.d.sync += write_value.eq(Mux(arrived, 0, write_value + 1))
            with m.If(arrived):
                m.d.sync += write_bank.eq(Mux(write_bank == batch - 1, 0, write_bank + 1))
                with m.If(write_bank == batch - 1):
                    m.d.sync += write_slot.eq(Mux(write_slot == slots - 1, 0, write_slot + 1))

        m.d.comb += [
            self.batch_ready.eq((spliced >= batch)
                                | (self.finish & (spliced != 0) & (write_value == 0))),
            run_frames.eq(Mux(spliced >= batch, batch, spliced)),
            self.batch_frames.eq(run_frames),
            self.empty.eq((spliced == 0) & (write_value == 0)),
        ]
        released = Signal.like(run_frames)
        with m.If(self.release):
            m.d.comb += released.eq(run_frames)
            m.d.sync += run_slot.eq(Mux(run_slot == slots - 1, 0, run_slot + 1))
        m.d.sync += ahead.eq(ahead + arrived - released)

        # Reads: column k * values + v; k = whole * batch + turn. Bank b holds frame
        # t0 + k + ((b - k) % batch), which is `whole` slots on from the batch's first, or one
        # more for the banks below `turn`.
        whole = Signal(range((self.window - 1) // batch + 1))
        turn = Signal(range(batch))
        read_value = Signal(range(values))
        for bank, (_, read) in enumerate(banks):
            slot = Signal(range(2 * slots), name=f"slot{bank}")
            m.d.comb += [slot.eq(run_slot + whole + (turn > bank)),
                         read.addr.eq(Cat(read_value, Mux(slot >= slots, slot - slots, slot)))]
        with m.If(self.read_next):
            with m.If(read_value == values - 1):
                m.d.sync += [read_value.eq(0),
                             turn.eq(Mux(turn == batch - 1, 0, turn + 1))]
                with m.If(turn == batch - 1):
                    m.d.sync += whole.eq(whole + 1)
            with m.Else():
                m.d.sync += read_value.eq(read_value + 1)
        with m.If(self.read_start):
            m.d.sync += [read_value.eq(0), turn.eq(0), whole.eq(0)]

        # the read data, registered, belongs to the turn of two cycles before
        read_turn, data_turn = Signal.like(turn), Signal.like(turn)
        m.d.sync += [read_turn.eq(turn), data_turn.eq(read_turn)]
        registered = []
        for bank, (_, read) in enumerate(banks):
            data = Signal.like(read.data, name=f"data{bank}")
            m.d.sync += data.eq(read.data)
            registered.append(data)
        bank_data = Array(registered)
        for lane, lane_data in enumerate(lanes_of(self.read_data, batch)):
            source = Signal(range(2 * batch), name=f"source{lane}")
            m.d.comb += [source.eq(data_turn + lane),
                         lane_data.eq(bank_data[Mux(source >= batch, source - batch, source)])]

        with m.If(self.start):
            m.d.sync += [ahead.eq(0), run_slot.eq(0), write_bank.eq(0), write_slot.eq(0),
                         write_value.eq(0)]
        return m
