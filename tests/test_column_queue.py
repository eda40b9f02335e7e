# amaranth: UnusedElaboratable=no
# (the refusal tests construct queues that raise; Amaranth would warn that they go unused)
"""The PE's column queue against a deque: kept entries come out in order, dropped ones never."""

import collections
import random

import pytest
from amaranth.sim import Simulator

from hw.spmv.column_queue import ColumnQueue


@pytest.mark.parametrize("storage", ColumnQueue.STORAGES)
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(4))
def test_kept_entries_leave_in_order_and_dropped_ones_never(depth, seed, storage):
    rng = random.Random(seed)
    queue = ColumnQueue(width=8, depth=depth, storage=storage)
    model = collections.deque()
    seen = []

    async def bench(ctx):
        for cycle in range(600):
            # the writer offers only when the queue has room (as the PE promises)
            offer = len(model) < depth and rng.random() < 0.6
            keep = rng.random() < 0.7
            take = rng.random() < 0.5
            value = rng.randrange(256)
            ctx.set(queue.w_en, offer)
            ctx.set(queue.w_keep, keep)
            ctx.set(queue.w_data, value)
            ctx.set(queue.r_en, take)
            assert ctx.get(queue.r_rdy) == bool(model), cycle
            assert ctx.get(queue.level) == len(model), cycle
            if model:
                assert ctx.get(queue.r_data) == model[0], cycle
            await ctx.tick()
            if take and model:
                seen.append(model.popleft())
            if offer and keep:
                model.append(value)

    simulator = Simulator(queue)
    simulator.add_clock(1e-6)
    simulator.add_testbench(bench)
    simulator.run()
    assert len(seen) > 100  # the traffic moved


@pytest.mark.parametrize(("width", "depth"), [(0, 3), (8, 0), (8, 2.5)])
def test_a_bad_size_is_refused(width, depth):
    with pytest.raises(ValueError, match="must be a positive integer"):
        ColumnQueue(width=width, depth=depth)


def test_an_unknown_storage_is_refused():
    with pytest.raises(ValueError, match="storage must be one of memory, registers, not 'flops'"):
        ColumnQueue(width=8, depth=3, storage="flops")
