# amaranth: UnusedElaboratable=no
"""Cost unit RTL against sw/golden/cost.py, and the golden model's own checks."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.config import ConfigError, CostConfig, SpMVConfig
from hw.cost import CostUnit
from sw.golden.cost import CostError, golden_costs, scale_to_fixed

ACT = SpMVConfig(act_width=12, act_frac=4)
COST = CostConfig(cost_width=10, cost_frac=2, scale_width=12, scale_frac=6, max_outputs=40)


def run_unit(frames, scale, seed=0, banks=1):
    dut = CostUnit(ACT, COST, banks=banks)
    rng = random.Random(seed)
    got = []
    total = sum(len(f) for f in frames)

    async def source(ctx):
        ctx.set(dut.scale, scale)
        ctx.set(dut.count, len(frames[0]))
        for scores in frames:
            for value in scores:
                while rng.random() < 0.3:
                    await ctx.tick()
                ctx.set(dut.scores.payload, int(value))
                ctx.set(dut.scores.valid, 1)
                await ctx.tick().until(dut.scores.ready)
                ctx.set(dut.scores.valid, 0)

    async def sink(ctx):
        while len(got) < total:
            ctx.set(dut.costs.ready, rng.random() < 0.7)
            _, _, valid, ready, value = await ctx.tick().sample(
                dut.costs.valid, dut.costs.ready, dut.costs.payload)
            if valid and ready:
                got.append(value)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return got


@pytest.mark.collisions
@pytest.mark.parametrize("banks", [1, 2])
@pytest.mark.parametrize("seed", range(16))
def test_rtl_matches_golden(seed, banks):
    rng = np.random.default_rng(seed)
    pdfs = int(rng.integers(1, 40))
    frames = rng.integers(-2048, 2048, (3, pdfs))
    if seed == 0:
        frames[1] = -2048  # a flat frame: every cost 0
    scale = int(rng.integers(1, 4096))
    expected = golden_costs(frames, scale=scale, act_frac=ACT.act_frac,
                            scale_frac=COST.scale_frac, cost_frac=COST.cost_frac,
                            cost_width=COST.cost_width)
    assert run_unit(list(frames), scale, seed, banks) == expected.ravel().tolist()


@pytest.mark.collisions
@pytest.mark.parametrize("banks", [1, 2])
@pytest.mark.parametrize("pdfs", [1, 2])
def test_rtl_matches_golden_when_the_frame_is_read_right_after_its_last_write(pdfs, banks):
    # the last score is stored the cycle after it arrives; a one-pdf frame reads it back next
    frames = np.array([[5] * pdfs, [-7] * pdfs, [2047, -2048][:pdfs]])
    expected = golden_costs(frames, scale=1000, act_frac=ACT.act_frac,
                            scale_frac=COST.scale_frac, cost_frac=COST.cost_frac,
                            cost_width=COST.cost_width)
    assert run_unit(list(frames), 1000, pdfs, banks) == expected.ravel().tolist()


def test_golden_costs_are_relative_to_the_best_and_saturate():
    costs = golden_costs(np.array([16, 0, -8000]), scale=64, act_frac=4, scale_frac=6,
                         cost_frac=2, cost_width=10)
    assert costs.tolist() == [0, 4, 1023]  # (16-0)*64 >> 8 = 4; the last saturates


def test_scale_to_fixed_rounds():
    assert scale_to_fixed(0.1, 8) == 26


def test_scale_to_fixed_rejects_non_positive():
    with pytest.raises(CostError, match=r"acoustic_scale must be a finite number > 0, not 0"):
        scale_to_fixed(0, 8)


def test_scale_to_fixed_rejects_overflow():
    with pytest.raises(CostError, match=r"it must be 1..65535"):
        scale_to_fixed(300.0, 8)


def test_golden_rejects_float_scores():
    with pytest.raises(CostError, match=r"y must be a non-empty 1-D or 2-D integer array"):
        golden_costs(np.array([0.5]), scale=1, act_frac=0, scale_frac=0, cost_frac=0,
                     cost_width=8)


def test_golden_rejects_negative_shift():
    with pytest.raises(CostError, match=r"act_frac \+ scale_frac - cost_frac must be >= 0"):
        golden_costs(np.array([1]), scale=1, act_frac=0, scale_frac=0, cost_frac=2,
                     cost_width=8)


def test_config_rejects_a_shift_below_zero():
    with pytest.raises(ConfigError, match=r"act_frac 0 \+ scale_frac 0 must be at least "
                                          r"cost_frac 3"):
        CostUnit(SpMVConfig(act_frac=0), CostConfig(cost_frac=3, scale_frac=0))


def test_config_rejects_bad_width():
    with pytest.raises(ConfigError, match=r"CostConfig.cost_width must be an int from 4 to 32"):
        CostConfig(cost_width=2)


@pytest.mark.collisions
@pytest.mark.parametrize("banks", [1, 2])
def test_one_cost_per_cycle_and_two_banks_overlap_the_frames(banks):
    """With the source and the sink always ready a frame leaves at one cost per cycle, after
    its collection (one bank) or while the next frame is collected (two banks)."""
    pdfs, count = 30, 4
    dut = CostUnit(ACT, COST, banks=banks)
    scores = np.random.default_rng(banks).integers(-2048, 2048, (count, pdfs))
    cycles = []

    async def testbench(ctx):
        ctx.set(dut.scale, 100)
        ctx.set(dut.count, pdfs)
        ctx.set(dut.costs.ready, 1)
        values = iter(scores.ravel().tolist())
        value = next(values)
        got = 0
        cycle = 0
        while got < count * pdfs:
            ctx.set(dut.scores.valid, value is not None)
            ctx.set(dut.scores.payload, 0 if value is None else value)
            _, _, accepted, valid = await ctx.tick().sample(dut.scores.ready, dut.costs.valid)
            cycle += 1
            if value is not None and accepted:
                value = next(values, None)
            got += valid
        cycles.append(cycle)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    latency = 8  # the score register, the hand-over, and the conversion's three stages
    expected = (count + 1) * pdfs if banks == 2 else 2 * count * pdfs
    assert expected <= cycles[0] <= expected + count * latency
