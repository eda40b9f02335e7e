# amaranth: UnusedElaboratable=no
"""Hypothesis table RTL against the golden table's insert rule, under backpressure."""

import random

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hw.config import CostConfig, ViterbiConfig
from hw.viterbi import HypothesisTable, InsertOutcome
from sw.golden.viterbi import Counters, set_index
from sw.golden.viterbi import HypothesisTable as GoldenTable


def golden_outcomes(config, frames):
    """Outcome codes and the table after each frame, from the golden model."""
    outcomes, tables = [], []
    for inserts in frames:
        table, counters = GoldenTable(config), Counters()
        for state, cost, trace in inserts:
            before = (counters.inserts, counters.updates, counters.replacements, counters.drops)
            table.insert(state, cost, trace, counters)
            after = (counters.inserts, counters.updates, counters.replacements, counters.drops)
            code = {0: InsertOutcome.INSERT, 1: InsertOutcome.UPDATE,
                    2: InsertOutcome.REPLACE, 3: InsertOutcome.DROP}
            changed = [i for i in range(4) if after[i] != before[i]]
            outcomes.append(code[changed[0]] if changed else InsertOutcome.UNCHANGED)
        tables.append(table)
    return outcomes, tables


def run_rtl(config, frames, seed):
    """Offer each frame's hypotheses with random gaps, swap, read the frame back."""
    dut = HypothesisTable(config)
    rng = random.Random(seed)
    none = (1 << config.trace_bits) - 1
    outcomes, tables = [], []

    async def collect(ctx):
        async for _clk, _rst, decided, decision in ctx.tick().sample(dut.decided, dut.decision):
            if decided:
                outcomes.append(decision)

    async def bench(ctx):
        for inserts in frames:
            for state, cost, trace in inserts:
                while rng.random() < 0.3:
                    await ctx.tick()
                ctx.set(dut.inserts.payload, {"state": state, "cost": cost,
                                              "trace": none if trace < 0 else trace})
                ctx.set(dut.inserts.valid, 1)
                await ctx.tick()
                ctx.set(dut.inserts.valid, 0)
            await ctx.tick().until(~dut.busy)
            ctx.set(dut.swap, 1)
            await ctx.tick()
            ctx.set(dut.swap, 0)
            table = {}
            for s in range(config.sets):
                ctx.set(dut.read_set, s)
                await ctx.tick()
                valid = ctx.get(dut.read_valid)
                for w in range(config.ways):
                    if valid >> w & 1:
                        entry = ctx.get(dut.read_entries[w])
                        trace = -1 if entry.trace == none else entry.trace
                        table[(s, w)] = (entry.state, entry.cost, trace)
            tables.append(table)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(collect)
    sim.add_testbench(bench)
    sim.run_until(1e-6 * 10_000)
    return outcomes, tables


def random_frames(rng, config, frames=3, inserts=60, states=40):
    return [[(int(rng.integers(states)), int(rng.integers(0, 200)), int(rng.integers(-1, 50)))
             for _ in range(inserts)] for _ in range(frames)]


@pytest.mark.collisions
@pytest.mark.parametrize("sets, ways, hash_kind", [
    (1, 1, "xor_fold"), (1, 4, "xor_fold"), (4, 2, "xor_fold"), (8, 4, "multiplicative"),
    (16, 1, "xor_fold"), (2, 8, "multiplicative")])
def test_table_matches_golden(sets, ways, hash_kind):
    config = ViterbiConfig(sets=sets, ways=ways, hash=hash_kind, state_bits=8, max_states=256,
                           trace_depth=64, beam=100, cost=CostConfig(cost_width=8))
    rng = np.random.default_rng(sets * 16 + ways)
    frames = random_frames(rng, config)
    expected_outcomes, expected_tables = golden_outcomes(config, frames)
    outcomes, tables = run_rtl(config, frames, seed=sets + ways)
    assert outcomes == expected_outcomes
    for golden, rtl in zip(expected_tables, tables, strict=True):
        assert rtl == {(s, w): (state, cost, trace)
                       for s, w, state, cost, trace in golden.entries()}


def test_set_index_matches_the_golden_hash():
    from amaranth import Module, Signal

    from hw.viterbi.table import set_of
    state = Signal(16)
    module = Module()
    module.d.comb += Signal().eq(state)  # a design for the simulator to hold `state`
    configs = [ViterbiConfig(sets=sets, hash=kind) for kind in ("xor_fold", "multiplicative")
               for sets in (1, 2, 64, 4096)]
    values = (0, 1, 77, 4095, 40000, 65535)
    mismatches = []

    async def bench(ctx):
        for config in configs:
            for value in values:
                ctx.set(state, value)
                if ctx.get(set_of(state, config)) != set_index(value, config):
                    mismatches.append((config.sets, config.hash, value))

    sim = Simulator(module)
    sim.add_testbench(bench)
    sim.run()
    assert mismatches == []


@pytest.mark.parametrize("sets, ways", [(s, w) for s in (1, 4, 16, 64) for w in (1, 2, 4, 8)])
def test_every_geometry_elaborates(sets, ways):
    text = verilog.convert(HypothesisTable(ViterbiConfig(sets=sets, ways=ways)),
                           name="hypothesis_table")
    assert "module hypothesis_table" in text


def test_rejects_other_configs():
    with pytest.raises(TypeError, match=r"config must be a ViterbiConfig, not 3"):
        HypothesisTable(3)
