"""Frames in and out of a batched engine (``SpMVConfig.batch`` > 1).

The host sends frames one after another, value by value; a batched engine takes a column of
every frame of a batch at once, and the Viterbi unit takes the costs of one frame after another.
:class:`FrameGather` turns the first into the second: it writes each frame into its lane of one
of two halves, so the host fills one batch while the engine reads the other. :class:`FrameSplit`
does the reverse for the last layer: the engine writes a row of every frame at once, and the
split reads the stored batch back frame by frame, one score per cycle.
"""

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import SpMVConfig
from hw.memory import CollisionFreeMemory
from hw.spmv.lanes import lane_shape, lanes_of

__all__ = ["FrameGather", "FrameSplit", "gather_signature"]


def gather_signature(config: SpMVConfig) -> wiring.Signature:
    """The ports of a gather (:class:`FrameGather`, ``hw.splice.ContextGather``), which the
    recognizer's sequencer and reader drive alike."""
    return wiring.Signature({
        "features": In(stream.Signature(signed(config.act_width))),
        "start": In(1),
        "finish": In(1),
        "batch_ready": Out(1),
        "batch_frames": Out(range(config.batch + 1)),
        "read_start": In(1),
        "read_next": In(1),
        "read_data": Out(lane_shape(config.act_width, config.batch)),
        "release": In(1),
        "empty": Out(1),
    })


class FrameGather(wiring.Component):
    """Gathers ``config.batch`` frames of ``frame_length`` values into one batch.

    ``features`` takes the values frame by frame; frame ``f`` of a batch becomes lane ``f``.
    When a half holds a full batch (or, after ``finish``, the frames left over: ``finish`` is a
    level held from the last frame until the utterance ends) ``batch_ready`` rises with
    ``batch_frames``; the reader reads its columns in order, each with a ``read_next`` pulse
    (``read_data`` a cycle later, every lane; ``read_start`` goes back to the first column),
    and pulses ``release`` when it has read its last column. ``start`` empties
    both halves for a new utterance; ``empty`` says nothing is gathered or waiting.

    Parameters
    ----------
    config : SpMVConfig
        ``batch`` (lanes) and ``act_width``.
    frame_length : int
        Values per frame (the first layer's columns).
    """

    READ_LATENCY = 1  # cycles from ``read_next`` to its ``read_data``

    def __init__(self, config: SpMVConfig, frame_length: int):
        if not isinstance(config, SpMVConfig):
            raise TypeError(f"config must be an SpMVConfig, not {config!r}")
        if not 1 <= frame_length <= config.max_cols:
            raise ValueError(f"frame_length must be 1..{config.max_cols} (SpMVConfig.max_cols), "
                             f"not {frame_length!r}")
        self.config, self.frame_length = config, frame_length
        super().__init__(gather_signature(config))

    def elaborate(self, platform):
        m = Module()
        batch, length = self.config.batch, self.frame_length
        m.submodules.halves = halves = CollisionFreeMemory(
            shape=lane_shape(self.config.act_width, batch), depth=2 * length, init=[])
        write = halves.write_port(granularity=1)
        read = halves.read_port()

        fill_half, run_half = Signal(), Signal()
        fill_lane = Signal(range(batch))
        fill_column = Signal(range(length))
        read_column = Signal(range(length))
        full = Array([Signal(name=f"full{half}") for half in range(2)])
        frames = Array([Signal(range(batch + 1), name=f"frames{half}") for half in range(2)])

        m.d.comb += [
            self.features.ready.eq(~full[fill_half] & ~self.start),
            write.addr.eq(Mux(fill_half, length, 0) + fill_column),
            write.en.eq(Mux(self.features.valid & self.features.ready, 1 << fill_lane, 0)),
            read.addr.eq(Mux(run_half, length, 0) + read_column),
            self.read_data.eq(read.data),
            self.batch_ready.eq(full[run_half]),
            self.batch_frames.eq(frames[run_half]),
            self.empty.eq(~full[0] & ~full[1] & (fill_lane == 0) & (fill_column == 0)),
        ]
        for lane in lanes_of(write.data, batch):
            m.d.comb += lane.eq(self.features.payload)

        # a full half, or the last frames of the utterance, become the next batch
        close = Signal()
        closed_frames = Signal(range(batch + 1))
        with m.If(self.features.valid & self.features.ready):
            with m.If(fill_column == length - 1):
                m.d.sync += fill_column.eq(0)
                with m.If(fill_lane == batch - 1):
                    m.d.comb += [close.eq(1), closed_frames.eq(batch)]
                with m.Else():
                    m.d.sync += fill_lane.eq(fill_lane + 1)
            with m.Else():
                m.d.sync += fill_column.eq(fill_column + 1)
        with m.Elif(self.finish & (fill_lane != 0) & (fill_column == 0) & ~full[fill_half]):
            m.d.comb += [close.eq(1), closed_frames.eq(fill_lane)]
        with m.If(close):
            m.d.sync += [full[fill_half].eq(1), frames[fill_half].eq(closed_frames),
                         fill_half.eq(~fill_half), fill_lane.eq(0)]
        with m.If(self.release):
            m.d.sync += [full[run_half].eq(0), run_half.eq(~run_half)]
        with m.If(self.read_start):
            m.d.sync += read_column.eq(0)
        with m.Elif(self.read_next):
            m.d.sync += read_column.eq(read_column + 1)

        with m.If(self.start):
            m.d.sync += [fill_half.eq(0), run_half.eq(0), fill_lane.eq(0), fill_column.eq(0),
                         full[0].eq(0), full[1].eq(0)]
        return m


class FrameSplit(wiring.Component):
    """Stores the last layer's outputs of a batch and gives them back frame by frame.

    The engine writes row ``write_address`` of every lane at once (``write_enable``). A
    ``start`` pulse then streams ``frames`` frames of ``rows`` scores each on ``scores``: lane 0's
    rows in order, then lane 1's, and so on. ``busy`` is high while the store the next batch
    would be written to is still to be read: the next batch must not be written until it falls.
    With one bank that is from ``start`` until the last read has been issued; with two, the
    next batch is written into the other bank while this one is read, and its ``start`` may
    come before this one's reads end (they follow on).

    Parameters
    ----------
    config : SpMVConfig
        ``batch`` (lanes) and ``act_width``.
    rows : int
        Scores per frame (the last layer's rows).
    banks : int
        1 or 2 batches stored.
    """

    def __init__(self, config: SpMVConfig, rows: int, *, banks: int = 1):
        if not isinstance(config, SpMVConfig):
            raise TypeError(f"config must be an SpMVConfig, not {config!r}")
        if not 1 <= rows <= config.max_rows:
            raise ValueError(f"rows must be 1..{config.max_rows} (SpMVConfig.max_rows), "
                             f"not {rows!r}")
        if banks not in (1, 2):
            raise ValueError(f"banks must be 1 or 2, not {banks!r}")
        self.config, self.rows, self.banks = config, rows, banks
        super().__init__({
            "write_address": In(range(rows)),
            "write_data": In(lane_shape(config.act_width, config.batch)),
            "write_enable": In(1),
            "start": In(1),
            "frames": In(range(config.batch + 1)),
            "busy": Out(1),
            "scores": Out(stream.Signature(signed(config.act_width))),
        })

    def elaborate(self, platform):
        m = Module()
        config, rows, banks = self.config, self.rows, self.banks
        m.submodules.store = store = CollisionFreeMemory(
            shape=lane_shape(config.act_width, config.batch), depth=banks * rows, init=[])
        write, read = store.write_port(), store.read_port()
        # batches go into the banks in turn and are read in the same turn
        write_bank, read_bank = Signal(), Signal()
        m.d.comb += [write.addr.eq(Mux(write_bank, rows, 0) + self.write_address),
                     write.data.eq(self.write_data), write.en.eq(self.write_enable)]

        # One read per cycle while the FIFO has room for it and for the two in flight. The read
        # data is registered before the lane is picked: block RAM clock-to-out leaves no time
        # for a multiplexer behind it.
        depth = 4
        m.submodules.queue = queue = fifo.SyncFIFO(width=config.act_width, depth=depth)
        m.d.comb += [self.scores.payload.eq(queue.r_data), self.scores.valid.eq(queue.r_rdy),
                     queue.r_en.eq(self.scores.ready)]
        # frames still to read from each bank
        frames = [Signal.like(self.frames, name=f"frames{bank}") for bank in range(banks)]
        reading = Signal.like(self.frames)  # the read bank's
        m.d.comb += reading.eq(frames[0] if banks == 1 else Mux(read_bank, frames[1],
                                                                   frames[0]))
        lane = Signal(range(config.batch))
        row = Signal(range(rows))
        in_flight, in_flight_lane = Signal(), Signal.like(lane)
        held, held_lane = Signal(), Signal.like(lane)
        held_data = Signal.like(read.data)
        issue = Signal()
        m.d.comb += [self.busy.eq(frames[0] != 0 if banks == 1
                                  else Mux(write_bank, frames[1], frames[0]) != 0),
                     issue.eq((reading != 0) & (queue.level + in_flight + held < depth)),
                     read.addr.eq(Mux(read_bank, rows, 0) + row)]
        m.d.sync += [in_flight.eq(issue), in_flight_lane.eq(lane),
                     held.eq(in_flight), held_lane.eq(in_flight_lane), held_data.eq(read.data)]
        m.d.comb += [queue.w_data.eq(Array(lanes_of(held_data, config.batch))[held_lane]),
                     queue.w_en.eq(held)]
        with m.If(issue):
            with m.If(row == rows - 1):
                m.d.sync += [row.eq(0), lane.eq(lane + 1)]
                for bank, left in enumerate(frames):
                    with m.If(read_bank == bank):
                        m.d.sync += left.eq(left - 1)
                with m.If(reading == 1):  # this bank's last frame: on to the other
                    m.d.sync += [read_bank.eq(read_bank + (banks - 1)), lane.eq(0)]
            with m.Else():
                m.d.sync += row.eq(row + 1)
        with m.If(self.start):
            for bank, left in enumerate(frames):
                with m.If(write_bank == bank):
                    m.d.sync += left.eq(self.frames)
            m.d.sync += write_bank.eq(write_bank + (banks - 1))
        return m
