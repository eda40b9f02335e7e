# amaranth: UnusedElaboratable=no
"""Viterbi unit RTL against the golden decoder on Amaranth's simulator (the fast check; the
cocotb suites run the generated Verilog on Icarus and Verilator)."""

import dataclasses
import random

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hw.config import ViterbiConfig
from hw.viterbi.unit import ViterbiUnit
from sim.viterbi_cases import (
    COLLECT_CONFIG,
    GOLDEN_COUNTERS,
    SIM_CONFIG,
    expectation,
    make_cases,
    make_collect_cases,
)


async def load_and_start(ctx, dut, expected):
    """Write ``expected``'s graph into ``dut`` and start an utterance at its start state."""
    for target, words in ((0, expected["states"]), (1, expected["arcs"])):
        for address, word in enumerate(words):
            ctx.set(dut.graph_load.payload, {"target": target, "addr": address, "data": word})
            ctx.set(dut.graph_load.valid, 1)
            await ctx.tick()
    ctx.set(dut.graph_load.valid, 0)
    ctx.set(dut.start_state, expected["start"])
    ctx.set(dut.start_has_eps, expected["start_has_eps"])
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)


def run_unit(config, expectations, seed, *, gap=0.2, backpressure=0.3):
    """Decode every expectation's utterance on one unit; return what the unit produced."""
    dut = ViterbiUnit(config)
    rng = random.Random(seed)
    none = (1 << config.trace_bits) - 1
    results = []

    async def peek(ctx):
        entries = []
        for s in range(config.sets):
            ctx.set(dut.peek_set, s)
            await ctx.tick()
            valid = ctx.get(dut.peek_valid)
            for w in range(config.ways):
                if valid >> w & 1:
                    entry = ctx.get(dut.peek_entries[w])
                    trace = -1 if entry.trace == none else entry.trace
                    entries.append([s, w, entry.state, entry.cost, trace])
        return entries

    async def send(ctx, payload):
        while rng.random() < gap:
            await ctx.tick()
        await ctx.tick().until(dut.scores.ready)
        ctx.set(dut.scores.payload, payload)
        ctx.set(dut.scores.valid, 1)
        await ctx.tick()
        ctx.set(dut.scores.valid, 0)

    async def bench(ctx):
        for expected in expectations:
            await load_and_start(ctx, dut, expected)
            tables = []
            for index, frame in enumerate(expected["costs"]):
                await ctx.tick().until(dut.waiting)
                if index:
                    tables.append(await peek(ctx))
                for pdf, cost in enumerate(frame):
                    await send(ctx, {"cost": cost, "frame_end": pdf == len(frame) - 1,
                                     "utterance_end": 0})
            await ctx.tick().until(dut.waiting)
            if expected["costs"]:
                tables.append(await peek(ctx))
            await send(ctx, {"cost": 0, "frame_end": 0, "utterance_end": 1})
            words = []
            while True:
                ready = rng.random() >= backpressure
                ctx.set(dut.words.ready, ready)
                _, _, valid, payload = await ctx.tick().sample(dut.words.valid,
                                                               dut.words.payload)
                if valid and ready:
                    if payload.end:
                        break
                    words.append(payload.word)
            ctx.set(dut.words.ready, 0)
            await ctx.tick().until(~dut.busy)
            counters = {name: ctx.get(getattr(dut.counters, name)) for name in GOLDEN_COUNTERS}
            results.append({
                "words": words[::-1], "total_cost": ctx.get(dut.total_cost),
                "final_reached": ctx.get(dut.final_reached),
                "trace_overflow": ctx.get(dut.trace_overflow), "counters": counters,
                "tables": tables, "cycles": ctx.get(dut.counters.cycles)})

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


def check(expected, produced):
    for key in ("words", "total_cost", "final_reached", "trace_overflow", "counters"):
        assert produced[key] == expected[key], (expected["name"], key)
    assert len(produced["tables"]) == len(expected["tables"])
    for frame, (rtl, golden) in enumerate(zip(produced["tables"], expected["tables"], strict=True)):
        assert rtl == golden, (expected["name"], "table after frame", frame)


@pytest.mark.collisions
@pytest.mark.parametrize(("free_list", "score_banks", "skip_settled_passes"),
                         [("linked", 1, True), ("stack", 1, True), ("linked", 2, True),
                          ("linked", 1, False)])
def test_random_utterances_match_golden(free_list, score_banks, skip_settled_passes):
    # 5 of these 12 utterances have a settled pass to skip (the golden tests count them)
    config = dataclasses.replace(SIM_CONFIG, free_list=free_list, score_banks=score_banks,
                                 skip_settled_passes=skip_settled_passes)
    cases = make_cases(12, seed=1)
    expectations = [expectation(case, config) for case in cases]
    for expected, produced in zip(expectations, run_unit(config, expectations, seed=1),
                                  strict=True):
        check(expected, produced)


@pytest.mark.collisions
@pytest.mark.parametrize(("free_list", "score_banks"),
                         [("linked", 1), ("stack", 1), ("stack", 2)])
def test_trace_collections_many_times_per_utterance_match_golden(free_list, score_banks):
    """A 48-entry trace collected below 24 free entries: tables (with trace pointers), words
    and counters equal the golden model's after tens of collections per utterance, whichever
    way the unit keeps its free entries and its scores."""
    config = dataclasses.replace(COLLECT_CONFIG, free_list=free_list, score_banks=score_banks)
    cases = make_collect_cases(3, seed=2)
    expectations = [expectation(case, config) for case in cases]
    produced = run_unit(config, expectations, seed=2)
    for expected, result in zip(expectations, produced, strict=True):
        check(expected, result)
    assert min(e["counters"]["trace_collections"] for e in expectations) >= 10


def test_a_stacked_free_list_takes_one_memory_more():
    from boards.fit import memories

    def found(config):
        return {path: (width, depth) for path, width, depth, *_ in memories(ViterbiUnit(config))}

    linked = found(COLLECT_CONFIG)
    stacked = found(dataclasses.replace(COLLECT_CONFIG, free_list="stack"))
    # the stack's depth is the trace's, rounded up to a power of two so its addresses wrap
    assert {k: v for k, v in stacked.items() if k not in linked} == {
        "free_stack": (COLLECT_CONFIG.trace_bits, 64)}
    assert linked.items() <= stacked.items()


def stream_utterance(config, expected):
    """Load ``expected``'s graph into a unit, offer every score back to back (no peeking
    between frames) and take the words at once; return the words and the unit's cycles."""
    dut = ViterbiUnit(config)
    result = {}

    async def bench(ctx):
        await load_and_start(ctx, dut, expected)
        beats = [{"cost": cost, "frame_end": pdf == len(frame) - 1, "utterance_end": 0}
                 for frame in expected["costs"] for pdf, cost in enumerate(frame)]
        for beat in [*beats, {"cost": 0, "frame_end": 0, "utterance_end": 1}]:
            ctx.set(dut.scores.payload, beat)
            ctx.set(dut.scores.valid, 1)
            await ctx.tick().until(dut.scores.ready)
        ctx.set(dut.scores.valid, 0)
        ctx.set(dut.words.ready, 1)
        words = []
        while True:
            _, _, valid, payload = await ctx.tick().sample(dut.words.valid, dut.words.payload)
            if valid:
                if payload.end:
                    break
                words.append(payload.word)
        result.update(words=words[::-1], cycles=ctx.get(dut.counters.cycles),
                      total_cost=ctx.get(dut.total_cost))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return result


@pytest.mark.collisions
@pytest.mark.parametrize("index", [2, 3, 5, 7])
def test_two_score_banks_take_the_next_frame_while_searching(index):
    """Scores offered back to back: with two banks the next frame's go in while the unit
    searches this one, so the same words and total cost take fewer cycles."""
    case = make_cases(index + 1, seed=20)[index]
    assert len(case.costs) >= 3
    produced = {}
    for banks in (1, 2):
        config = dataclasses.replace(SIM_CONFIG, score_banks=banks)
        expected = expectation(case, config)
        produced[banks] = stream_utterance(config, expected)
        assert produced[banks]["words"] == expected["words"]
        assert produced[banks]["total_cost"] == expected["total_cost"]
    # at least one frame's filling hidden behind a search
    assert produced[2]["cycles"] <= produced[1]["cycles"] - case.costs.shape[1]


def test_an_unknown_free_list_is_refused():
    from hw.config import ConfigError

    with pytest.raises(ConfigError, match=r"free_list must be one of .*'heap'"):
        ViterbiConfig(free_list="heap")


@pytest.mark.parametrize("sets, ways", [(s, w) for s in (1, 4, 16, 64) for w in (1, 2, 4, 8)])
def test_every_geometry_elaborates(sets, ways):
    config = ViterbiConfig(sets=sets, ways=ways, max_states=64, max_arcs=256, max_pdfs=16,
                           trace_depth=64)
    assert "module viterbi" in verilog.convert(ViterbiUnit(config), name="viterbi")


def test_graph_too_wide_for_the_state_width_is_refused():
    from hw.config import ConfigError
    from sw.golden.viterbi_image import graph_image
    from sw.graph import random_graph

    graph = random_graph(3, num_states=40)
    with pytest.raises(ConfigError, match=r"state_bits 5 holds 32 states; the graph has 40"):
        graph_image(graph, ViterbiConfig(state_bits=5, max_states=32))


def test_graph_larger_than_the_arc_memory_is_refused():
    from hw.config import ConfigError
    from sw.golden.viterbi_image import graph_image
    from sw.graph import random_graph

    graph = random_graph(3, num_states=40)
    with pytest.raises(ConfigError, match=r"max_arcs is 16; the graph needs \d+"):
        graph_image(graph, ViterbiConfig(max_arcs=16))


def test_rejects_other_configs():
    with pytest.raises(TypeError, match=r"config must be a ViterbiConfig, not 'x'"):
        ViterbiUnit("x")
