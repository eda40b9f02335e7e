# amaranth: UnusedElaboratable=no
"""FrameGather and FrameSplit (hw/batching.py), ContextGather (hw/splice.py): frames into lanes
and back, exactly, under random gaps and backpressure."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.batching import FrameGather, FrameSplit
from hw.config import SpMVConfig
from hw.splice import ContextGather
from sw.features import splice
from sw.system import host_frames

CONFIG = SpMVConfig(pes=2, act_width=10, max_rows=16, max_cols=16)


def gather_batches(batch, frame_length, frame_count, *, seed):
    """Stream ``frame_count`` random frames into a gather and read every batch it offers;
    return the frames sent and, per batch, its frame count and its columns (every lane)."""
    config = CONFIG.replace(batch=batch)
    rng = random.Random(seed)
    lo, hi = config.act_range
    frames = [[rng.randint(lo, hi) for _ in range(frame_length)] for _ in range(frame_count)]
    batches = read_batches(FrameGather(config, frame_length), frames, frame_length,
                           -(-frame_count // batch), rng)
    return frames, batches


def read_batches(dut, frames, columns, expected, rng):
    """Send ``frames`` into gather ``dut`` with random gaps while reading its ``expected``
    batches of ``columns`` columns, at random pace, as the recognizer's reader does; return
    per batch its frame count and its columns (every lane)."""
    batch = dut.config.batch
    batches = []

    async def host(ctx):
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for frame in frames:
            for value in frame:
                while rng.random() < 0.3:
                    await ctx.tick()
                ctx.set(dut.features.payload, value)
                ctx.set(dut.features.valid, 1)
                await ctx.tick().until(dut.features.ready)
                ctx.set(dut.features.valid, 0)
        ctx.set(dut.finish, 1)

    async def reader(ctx):
        await ctx.tick()
        while len(batches) < expected:
            await ctx.tick().until(dut.batch_ready)
            for _ in range(rng.randint(0, 40)):  # the engine is busy with the previous batch
                await ctx.tick()
            count = ctx.get(dut.batch_frames)
            ctx.set(dut.read_start, 1)
            await ctx.tick()
            ctx.set(dut.read_start, 0)
            read = []
            for _ in range(columns):
                while rng.random() < 0.2:  # the reader's FIFO is full
                    await ctx.tick()
                ctx.set(dut.read_next, 1)
                await ctx.tick()
                ctx.set(dut.read_next, 0)
                for _ in range(dut.READ_LATENCY - 1):
                    await ctx.tick()
                data = ctx.get(dut.read_data)
                read.append([data] if batch == 1 else [data[lane] for lane in range(batch)])
            ctx.set(dut.release, 1)
            await ctx.tick()
            ctx.set(dut.release, 0)
            batches.append((count, read))
        await ctx.tick()
        assert ctx.get(dut.empty)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host, background=True)
    sim.add_testbench(reader)
    sim.run()
    return batches


@pytest.mark.collisions
@pytest.mark.parametrize(("batch", "frame_count"), [(2, 5), (3, 9), (4, 1), (4, 11)])
def test_gather_puts_frame_f_of_a_batch_in_lane_f(batch, frame_count):
    frames, batches = gather_batches(batch, 7, frame_count, seed=batch * 100 + frame_count)
    received = []
    for count, columns in batches:
        lanes = np.array(columns).T  # [lane, column]
        received.extend(lanes[:count].tolist())
    assert [count for count, _ in batches] == [
        min(batch, frame_count - start) for start in range(0, frame_count, batch)]
    assert received == frames


async def write_batch(ctx, split, stored, frames, *, on_start=None):
    """Write ``stored`` (rows of lanes) into ``split`` and start ``frames`` frames of it;
    ``on_start`` is called in the cycle of the start."""
    ctx.set(split.write_enable, 1)
    for row, lanes in enumerate(stored):
        ctx.set(split.write_address, row)
        ctx.set(split.write_data, lanes)
        await ctx.tick()
    ctx.set(split.write_enable, 0)
    ctx.set(split.start, 1)
    ctx.set(split.frames, frames)
    if on_start is not None:
        on_start()
    await ctx.tick()
    ctx.set(split.start, 0)


@pytest.mark.collisions
@pytest.mark.parametrize(("batch", "frames"), [(2, 2), (3, 1), (4, 3)])
def test_split_gives_the_stored_batch_back_frame_by_frame(batch, frames):
    config = CONFIG.replace(batch=batch)
    rows = 5
    dut = FrameSplit(config, rows)
    rng = random.Random(batch)
    lo, hi = config.act_range
    stored = [[rng.randint(lo, hi) for _ in range(batch)] for _ in range(rows)]
    scores = []

    async def testbench(ctx):
        await write_batch(ctx, dut, stored, frames)
        while len(scores) < frames * rows:
            ready = rng.random() < 0.6
            ctx.set(dut.scores.ready, ready)
            _, _, valid, payload, busy = await ctx.tick().sample(
                dut.scores.valid, dut.scores.payload, dut.busy)
            if valid and ready:
                scores.append(payload)
        assert not busy
        for _ in range(8):
            _, _, valid = await ctx.tick().sample(dut.scores.valid)
            assert not valid

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert scores == [stored[row][lane] for lane in range(frames) for row in range(rows)]


@pytest.mark.collisions
@pytest.mark.parametrize(("batch", "counts"), [(2, [2, 1, 2, 2]), (3, [3, 3, 1]),
                                               (4, [4, 1, 4])])
def test_a_two_bank_split_takes_the_next_batch_while_it_reads_this_one(batch, counts):
    """Batches are written and started as soon as ``busy`` allows: the second while the first
    is still read, the third once the first is done; the scores come out batch after batch,
    frame by frame, under random backpressure."""
    config = CONFIG.replace(batch=batch)
    rows = 5
    dut = FrameSplit(config, rows, banks=2)
    rng = random.Random(batch)
    lo, hi = config.act_range
    batches = [[[rng.randint(lo, hi) for _ in range(batch)] for _ in range(rows)]
               for _ in counts]
    scores, started = [], []  # scores out when each batch started
    expected = [stored[row][lane] for stored, count in zip(batches, counts, strict=True)
                for lane in range(count) for row in range(rows)]

    async def writer(ctx):
        for stored, count in zip(batches, counts, strict=True):
            await ctx.tick().until(~dut.busy)
            await write_batch(ctx, dut, stored, count, on_start=lambda: started.append(len(scores)))

    async def reader(ctx):
        while len(scores) < len(expected):
            ready = rng.random() < 0.6
            ctx.set(dut.scores.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.scores.valid, dut.scores.payload)
            if valid and ready:
                scores.append(payload)
        for _ in range(8):
            _, _, valid, busy = await ctx.tick().sample(dut.scores.valid, dut.busy)
            assert not valid and not busy

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(writer)
    sim.add_testbench(reader)
    sim.run()
    assert scores == expected
    # the second batch started long before the first one's scores were out: more were still
    # to come than the reads one bank lets issue ahead (four queued, two in flight)
    assert started[1] < counts[0] * rows - 6


@pytest.mark.collisions
@pytest.mark.parametrize(("batch", "context", "frame_count"),
                         [(1, 1, 4), (1, 2, 1), (2, 1, 5), (3, 2, 8), (4, 1, 11), (4, 3, 3),
                          (8, 5, 19), (2, 2, 0)])
def test_context_gather_gives_the_spliced_frames(batch, context, frame_count):
    """The host sends the frames with their edges repeated; the lanes hold what
    sw.features.splice stacks, batch by batch."""
    config = CONFIG.replace(batch=batch, max_cols=64)
    rng = random.Random(batch * 1000 + context * 100 + frame_count)
    values = 3
    lo, hi = config.act_range
    frames = np.array([[rng.randint(lo, hi) for _ in range(values)]
                       for _ in range(frame_count)]).reshape(frame_count, values)
    spliced = (splice(frames.astype(np.float32), context).astype(np.int64) if frame_count
               else np.zeros((0, (2 * context + 1) * values), dtype=np.int64))
    sent = host_frames(spliced, context)
    assert len(sent) == (frame_count + 2 * context if frame_count else 0)
    batches = read_batches(ContextGather(config, values, context), sent.tolist(),
                           spliced.shape[1], -(-frame_count // batch), rng)
    assert [count for count, _ in batches] == [
        min(batch, frame_count - start) for start in range(0, frame_count, batch)]
    received = [lane for count, columns in batches for lane in np.array(columns).T[:count]]
    np.testing.assert_array_equal(np.array(received).reshape(spliced.shape), spliced)


def test_host_frames_refuse_what_is_not_a_splice():
    """The host cannot send frames the core would splice into something else than the golden
    model's input: activations spliced otherwise, or not at all, are refused."""
    frames = np.arange(5 * 4).reshape(5, 4).astype(np.float32)
    spliced = splice(frames, 2)
    np.testing.assert_array_equal(host_frames(spliced, 2)[2:-2], frames)
    assert host_frames(spliced, 0) is not None
    with pytest.raises(ValueError, match=r"not spliced from ±1 frames: frame 0 differs"):
        host_frames(splice(np.arange(5 * 12).reshape(5, 12).astype(np.float32), 2), 1)
    with pytest.raises(ValueError, match=r"shape \(frames, 7 \* values\)"):
        host_frames(spliced, 3)
    with pytest.raises(ValueError, match="context must be an int >= 0"):
        host_frames(spliced, -1)


def test_context_gather_refuses_what_it_cannot_splice():
    config = CONFIG.replace(batch=2)
    with pytest.raises(ValueError, match="context must be an int of 1 or more"):
        ContextGather(config, 4, 0)
    with pytest.raises(ValueError, match=r"frame_values must be 1..5 \(SpMVConfig.max_cols 16 "
                                         r"over 3 frames\)"):
        ContextGather(config, 6, 1)


def test_gather_and_split_refuse_sizes_beyond_the_engine():
    with pytest.raises(ValueError, match="frame_length must be 1..16"):
        FrameGather(CONFIG.replace(batch=2), 17)
    with pytest.raises(ValueError, match="rows must be 1..16"):
        FrameSplit(CONFIG.replace(batch=2), 0)
    with pytest.raises(ValueError, match="banks must be 1 or 2, not 3"):
        FrameSplit(CONFIG.replace(batch=2), 4, banks=3)
