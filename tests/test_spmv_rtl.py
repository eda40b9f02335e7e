# amaranth: UnusedElaboratable=no
"""SpMV engine RTL against the golden model in Amaranth's simulator (fast, small layers)."""

import dataclasses
import random

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hw.config import ConfigError, SpMVConfig
from hw.spmv import LoadTarget, SpMVEngine
from sim.spmv_cases import make_case
from sw.csc import CSCError, encode
from sw.golden.spmv import batch_columns, golden_spmv, golden_spmv_batch, ideal_cycles

SMALL = SpMVConfig(pes=3, act_width=12, act_frac=4, codebook_width=8, codebook_frac=5,
                   bias_width=12, index_bits=3, fifo_depth=2, max_rows=40, max_cols=40,
                   entry_depth=2048)


async def start_run(ctx, engine, layer):
    """Set ``layer``'s shape on ``engine`` and pulse ``start``."""
    ctx.set(engine.rows, layer.rows)
    ctx.set(engine.cols, layer.cols)
    ctx.set(engine.relu, layer.relu)
    ctx.set(engine.start, 1)
    await ctx.tick()
    ctx.set(engine.start, 0)


def run_engine(engine, runs, *, seed=0, gaps=0.3, backpressure=0.3, loads=None):
    """Run ``(layer, x)`` pairs back to back on one engine; return outputs and cycles per run.

    ``loads`` optionally gives, per run, the load-port words to write before it.
    """
    rng = random.Random(seed)
    results = []

    async def bench(ctx):
        for number, (layer, x) in enumerate(runs):
            if loads is not None:
                ctx.set(engine.load.valid, 1)
                for word in loads[number]:
                    ctx.set(engine.load.payload, word)
                    await ctx.tick()
                ctx.set(engine.load.valid, 0)
            await start_run(ctx, engine, layer)
            outputs = []

            sent = 0
            offering = False
            while len(outputs) < layer.rows:
                if sent < len(x) and not offering and rng.random() >= gaps:
                    # a batch's column carries one value per lane (frame)
                    value = x[sent]
                    ctx.set(engine.activations.payload,
                            int(value) if np.ndim(value) == 0 else [int(v) for v in value])
                    ctx.set(engine.activations.valid, 1)
                    offering = True
                ready = rng.random() >= backpressure
                ctx.set(engine.outputs.ready, ready)
                _, _, accepted, valid, payload = await ctx.tick().sample(
                    engine.activations.ready, engine.outputs.valid, engine.outputs.payload)
                if offering and accepted:
                    sent += 1
                    offering = False
                    ctx.set(engine.activations.valid, 0)
                if valid and ready:
                    outputs.append(payload if engine.config.batch == 1
                                   else [payload[lane] for lane in range(engine.config.batch)])
            ctx.set(engine.outputs.ready, 0)
            await ctx.tick().until(~engine.busy)
            results.append((outputs, ctx.get(engine.compute_cycles)))

    sim = Simulator(engine)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


def rolled_lanes_case(index, seed, config):
    """Case ``index`` with its activations rolled by one more place in each lane of
    ``config.batch``: the case, the frames, the engine's run and golden's rows."""
    case = make_case(index, seed=seed, config=config)
    frames = np.stack([np.roll(case.x, lane) for lane in range(config.batch)])
    expected = golden_spmv_batch(case.layer, frames, config)
    run = (case.layer, frames.T if config.batch > 1 else case.x)
    return case, frames, run, (expected[:, 0] if config.batch == 1 else expected).tolist()


def twice_on_both(index, seed, config, changed):
    """Case ``index`` (:func:`rolled_lanes_case`) run twice on an engine built from ``changed``,
    asserting golden's rows under random gaps and backpressure; then the results of both
    engines, ``config``'s and ``changed``'s, running it twice without them."""
    case, frames, run, expected = rolled_lanes_case(index, seed, config)
    runs = [run] * 2
    for outputs, _ in run_engine(SpMVEngine(changed, layer=case.layer), runs, seed=index):
        assert outputs == expected, case.name
    steady = {"gaps": 0, "backpressure": 0}
    return case, frames, [run_engine(SpMVEngine(built, layer=case.layer), runs, **steady)
                          for built in (config, changed)]


@pytest.mark.collisions
@pytest.mark.parametrize("index", range(24))
def test_random_and_edge_layers_match_golden(index):
    case = make_case(index, seed=7, config=SMALL)
    [(outputs, cycles)] = run_engine(SpMVEngine(SMALL, layer=case.layer),
                                     [(case.layer, case.x)], seed=index)
    assert outputs == golden_spmv(case.layer, case.x, SMALL).tolist(), case.name
    assert cycles >= ideal_cycles(case.layer, case.x)


@pytest.mark.parametrize("index", range(0, 24, 3))
def test_a_codebook_in_block_ram_changes_no_output_and_no_cycle(index):
    case = make_case(index, seed=7, config=SMALL)
    runs = [(case.layer, case.x)]
    [registers] = run_engine(SpMVEngine(SMALL, layer=case.layer), runs, seed=index)
    [block] = run_engine(SpMVEngine(SMALL.replace(codebook_memory="block"), layer=case.layer),
                         runs, seed=index)
    assert block == registers
    assert block[0] == golden_spmv(case.layer, case.x, SMALL).tolist(), case.name


@pytest.mark.parametrize("index", range(0, 24, 3))
def test_column_queues_in_registers_change_no_output_and_no_cycle(index):
    """``column_queue_memory="registers"`` (the iCEBreaker's) against the memory read without
    a clock: the same rows and cycles under the same gaps and backpressure."""
    case = make_case(index, seed=7, config=SMALL)
    runs = [(case.layer, case.x)]
    [memory] = run_engine(SpMVEngine(SMALL, layer=case.layer), runs, seed=index)
    [registers] = run_engine(
        SpMVEngine(SMALL.replace(column_queue_memory="registers"), layer=case.layer), runs,
        seed=index)
    assert registers == memory
    assert registers[0] == golden_spmv(case.layer, case.x, SMALL).tolist(), case.name


@pytest.mark.parametrize("index", range(0, 24, 3))
@pytest.mark.parametrize("batch", [1, 3])
def test_lane_accumulators_in_lut_ram_change_no_output_and_no_cycle(index, batch):
    """``accumulator_memory="lut"``: a memory per lane read through registered rows of its
    own, against the one memory's transparent read port: the same rows, the same cycles."""
    config = SMALL.replace(batch=batch)
    case, _, run, expected = rolled_lanes_case(index, 7, config)
    [one_memory] = run_engine(SpMVEngine(config, layer=case.layer), [run], seed=index)
    [per_lane] = run_engine(SpMVEngine(config.replace(accumulator_memory="lut"),
                                       layer=case.layer), [run], seed=index)
    assert per_lane == one_memory
    assert per_lane[0] == expected, case.name


@pytest.mark.collisions
@pytest.mark.parametrize("index", range(8))
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("accumulator_memory", ["auto", "lut"])
def test_a_second_multiplier_stage_changes_no_output_and_costs_a_cycle_a_run(
        index, batch, accumulator_memory):
    """``multiplier_stages=2``: the operands registered once more before the multiply (on the
    ECP5 in the MULT18X18D) and the row with them: the same rows under random gaps and
    backpressure, and without them each run that multiplies anything drains exactly one cycle
    later (the column stream is unchanged; only the pipeline behind it is longer)."""
    config = SMALL.replace(batch=batch, accumulator_memory=accumulator_memory)
    case, frames, (one_stage, two_stages) = twice_on_both(
        index, 13, config, config.replace(multiplier_stages=2))
    multiplies = ideal_cycles(case.layer, batch_columns(frames)) > 0
    assert [cycles for _, cycles in two_stages] == [
        cycles + multiplies for _, cycles in one_stage], case.name


@pytest.mark.collisions
@pytest.mark.parametrize("index", range(8))
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("accumulator_memory", ["auto", "lut"])
@pytest.mark.parametrize("multiplier_stages", [1, 2])
def test_accumulators_read_a_cycle_ahead_change_no_output_and_no_cycle(
        index, batch, accumulator_memory, multiplier_stages):
    """``accumulate_stages=2``: each PE reads its accumulator a cycle ahead into a register
    and forwards the total just written to an entry of the same row: the same rows under
    random gaps and backpressure, and without them the same cycles (the write back is where
    it was; only the read moved)."""
    config = SMALL.replace(batch=batch, accumulator_memory=accumulator_memory,
                           multiplier_stages=multiplier_stages)
    case, _, (one_stage, two_stages) = twice_on_both(
        index, 17, config, config.replace(accumulate_stages=2))
    assert two_stages == one_stage, case.name


@pytest.mark.parametrize("accumulator_memory", ["auto", "lut"])
@pytest.mark.parametrize("multiplier_stages", [1, 2])
def test_an_entry_of_the_row_just_written_takes_its_total(accumulator_memory,
                                                          multiplier_stages):
    """One PE, every weight in row 0 (and a few in row 1): back to back, each entry's row was
    written back in the cycle its accumulator was read, so every sum depends on forwarding
    the total just written (with ``accumulate_stages=2``); the columns run without gaps."""
    config = SMALL.replace(pes=1, accumulator_memory=accumulator_memory,
                           multiplier_stages=multiplier_stages, accumulate_stages=2)
    codes = np.zeros((2, 30), dtype=int)
    codes[0] = np.arange(30) % 15 + 1
    codes[1, ::7] = 3
    layer = encode(codes, np.arange(1, 16) * 3 - 20, config=config, relu=False)
    x = np.random.default_rng(3).integers(1, 200, 30)
    [(outputs, _)] = run_engine(SpMVEngine(config, layer=layer), [(layer, x)],
                                gaps=0, backpressure=0)
    assert outputs == golden_spmv(layer, x, config).tolist()


@pytest.mark.collisions
@pytest.mark.parametrize("index", range(16))
@pytest.mark.parametrize("batch", [2, 3])
def test_a_batch_equals_golden_frame_by_frame(index, batch):
    """Each lane of a batched engine is the unbatched engine's output for its frame; a column
    is read when any lane is nonzero. Some lanes are all zero (a batch's unused frames), some
    columns zero in every lane."""
    config = SMALL.replace(batch=batch)
    case = make_case(index, seed=11, config=config)
    rng = np.random.default_rng(index)
    frames = np.stack([case.x] + [
        np.where(rng.random(case.layer.cols) < 0.5, rng.integers(-100, 100, case.layer.cols), 0)
        * (rng.random() < 0.8) for _ in range(batch - 1)])
    [(outputs, cycles)] = run_engine(SpMVEngine(config, layer=case.layer),
                                     [(case.layer, frames.T)], seed=index)
    assert outputs == golden_spmv_batch(case.layer, frames, config).tolist(), case.name
    assert cycles >= ideal_cycles(case.layer, batch_columns(frames))


@pytest.mark.collisions
def test_back_to_back_runs_clear_the_accumulators():
    case = make_case(30, seed=3, config=SMALL)
    rng = np.random.default_rng(0)
    vectors = [case.x, np.zeros_like(case.x), rng.integers(-100, 100, case.layer.cols)]
    results = run_engine(SpMVEngine(SMALL, layer=case.layer),
                         [(case.layer, x) for x in vectors])
    for x, (outputs, _) in zip(vectors, results, strict=True):
        assert outputs == golden_spmv(case.layer, x, SMALL).tolist()


def load_words(layer, config):
    """Load-port payloads (as dicts) that write ``layer``."""
    words = []
    for pe in range(layer.pes):
        words += [{"target": LoadTarget.POINTER, "pe": pe, "address": j, "data": int(p)}
                  for j, p in enumerate(layer.col_ptr[pe])]
        words += [{"target": LoadTarget.ENTRY, "pe": pe, "address": k, "data": int(e)}
                  for k, e in enumerate(layer.entries[pe])]
    words += [{"target": LoadTarget.CODEBOOK, "pe": 0, "address": c,
               "data": int(v) & ((1 << config.codebook_width) - 1)}
              for c, v in enumerate(layer.codebook)]
    words += [{"target": LoadTarget.BIAS, "pe": 0, "address": r,
               "data": int(v) & ((1 << config.bias_width) - 1)}
              for r, v in enumerate(layer.bias)]
    return words


@pytest.mark.collisions
@pytest.mark.parametrize("codebook_memory", SpMVConfig.CODEBOOK_MEMORIES)
def test_run_time_loading_replaces_the_layer(codebook_memory):
    first, second = make_case(40, seed=1, config=SMALL), make_case(41, seed=1, config=SMALL)
    # empty memories: everything arrives through the load port
    engine = SpMVEngine(SMALL.replace(codebook_memory=codebook_memory))
    results = run_engine(engine, [(first.layer, first.x), (second.layer, second.x)],
                         loads=[load_words(first.layer, SMALL), load_words(second.layer, SMALL)])
    assert results[0][0] == golden_spmv(first.layer, first.x, SMALL).tolist()
    assert results[1][0] == golden_spmv(second.layer, second.x, SMALL).tolist()


@pytest.mark.collisions
@pytest.mark.parametrize("accumulate_stages", [1, 2])
@pytest.mark.parametrize("accumulator_memory", ["auto", "lut"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch", [1, 2])
def test_two_banks_compute_the_next_run_while_this_one_reads_out(seed, batch,
                                                                 accumulator_memory,
                                                                 accumulate_stages):
    """With two accumulator banks a run starts as soon as the one before has computed (not
    read out): each run's codebook is loaded while the run before computes (into the other
    bank's codebook), ReLU alternates, and every run's rows equal golden's under random gaps
    and backpressure; some run starts before the previous run's last row is out. With
    ``accumulate_stages=2`` the word read a cycle ahead comes from the computing bank."""
    config = SMALL.replace(batch=batch, accumulator_banks=2,
                           accumulator_memory=accumulator_memory,
                           accumulate_stages=accumulate_stages)
    case = make_case(30 + seed, seed=3, config=config)
    rng = np.random.default_rng(seed)
    runs = []
    for number in range(5):
        codebook = np.concatenate([[0], rng.permutation(case.layer.codebook[1:])])
        layer = dataclasses.replace(case.layer, codebook=codebook, relu=bool(number % 2))
        frames = rng.integers(-100, 100, (batch, layer.cols)) * (rng.random(layer.cols) < 0.7)
        runs.append((layer, frames))
    engine = SpMVEngine(config, layer=case.layer)
    pace = random.Random(seed)
    starts, last_rows, outputs = [], [], [[] for _ in runs]

    def codebook_words(layer):
        return [{"target": LoadTarget.CODEBOOK, "pe": 0, "address": code,
                 "data": int(value) & ((1 << config.codebook_width) - 1)}
                for code, value in enumerate(layer.codebook)]

    async def load(ctx, words):
        ctx.set(engine.load.valid, 1)
        for word in words:
            ctx.set(engine.load.payload, word)
            await ctx.tick().until(engine.load.ready)
        ctx.set(engine.load.valid, 0)

    async def driver(ctx):
        await load(ctx, codebook_words(runs[0][0]))  # idle: both codebooks
        for number, (layer, frames) in enumerate(runs):
            await ctx.tick().until(engine.start_ready)
            await start_run(ctx, engine, layer)
            starts.append(sum(len(rows) for rows in outputs))
            if number + 1 < len(runs):  # the next run's codebook, while this one computes
                await load(ctx, codebook_words(runs[number + 1][0]))
            for column in frames.T:
                ctx.set(engine.activations.payload,
                        int(column[0]) if batch == 1 else [int(v) for v in column])
                ctx.set(engine.activations.valid, 1)
                await ctx.tick().until(engine.activations.ready)
                ctx.set(engine.activations.valid, 0)
                if pace.random() < 0.2:
                    await ctx.tick()

    async def sink(ctx):
        for number, (layer, _) in enumerate(runs):
            while len(outputs[number]) < layer.rows:
                ready = pace.random() >= 0.3
                ctx.set(engine.outputs.ready, ready)
                _, _, valid, payload = await ctx.tick().sample(engine.outputs.valid,
                                                               engine.outputs.payload)
                if valid and ready:
                    outputs[number].append(payload if batch == 1
                                           else [payload[lane] for lane in range(batch)])
            last_rows.append(sum(len(rows) for rows in outputs))
        ctx.set(engine.outputs.ready, 0)

    sim = Simulator(engine)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(sink)
    sim.run()
    for (layer, frames), rows in zip(runs, outputs, strict=True):
        expected = golden_spmv_batch(layer, frames, config)
        assert rows == (expected[:, 0] if batch == 1 else expected).tolist()
    # rows out before each run's start, against rows out when the run before ended
    assert any(start < last for start, last in zip(starts[1:], last_rows, strict=False))


def test_two_banks_need_register_codebooks():
    with pytest.raises(ConfigError, match="accumulator_banks 2 needs codebook_memory"):
        SMALL.replace(accumulator_banks=2, codebook_memory="block")


@pytest.mark.collisions
@pytest.mark.parametrize("codebook_memory", SpMVConfig.CODEBOOK_MEMORIES)
def test_the_next_codebook_loads_during_the_read_out_and_nothing_else(codebook_memory):
    """While the rows are read out the PEs are done with the codebook: the load port takes the
    next layer's codebook then (the rows still come out of the old one), but no other word,
    and no codebook while the PEs compute."""
    config = SMALL.replace(codebook_memory=codebook_memory)
    layer = make_case(30, seed=3, config=config).layer
    other = dataclasses.replace(layer, codebook=np.concatenate([layer.codebook[:1],
                                                                layer.codebook[:0:-1]]))
    engine = SpMVEngine(config, layer=layer)
    x = np.random.default_rng(5).integers(-100, 100, layer.cols)
    outputs, refused = [[], []], []

    def word(target, address, value):
        return {"target": target, "pe": 0, "address": address,
                "data": int(value) & ((1 << config.codebook_width) - 1)}

    async def bench(ctx):
        for run in range(2):
            await start_run(ctx, engine, layer)
            ctx.set(engine.outputs.ready, 1)
            ctx.set(engine.load.payload, word(LoadTarget.CODEBOOK, 1, 0))
            refused.append(not ctx.get(engine.load.ready))  # computing
            sent = code = 0
            while len(outputs[run]) < layer.rows:
                ctx.set(engine.activations.valid, sent < len(x))
                ctx.set(engine.activations.payload, int(x[min(sent, len(x) - 1)]))
                loading = run == 0 and code < 16 and ctx.get(engine.reading_out)
                if loading:
                    ctx.set(engine.load.payload, word(LoadTarget.BIAS, 0, 0))
                    refused.append(not ctx.get(engine.load.ready))
                    ctx.set(engine.load.payload,
                            word(LoadTarget.CODEBOOK, code, other.codebook[code]))
                ctx.set(engine.load.valid, loading)
                _, _, taken, written, valid, payload = await ctx.tick().sample(
                    engine.activations.ready, engine.load.ready, engine.outputs.valid,
                    engine.outputs.payload)
                sent += int(taken and sent < len(x))
                code += int(loading and written)
                if valid:
                    outputs[run].append(payload)
            ctx.set(engine.load.valid, 0)
            assert run == 1 or code == 16
            await ctx.tick().until(~engine.busy)

    sim = Simulator(engine)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert outputs[0] == golden_spmv(layer, x, config).tolist()
    assert outputs[1] == golden_spmv(other, x, config).tolist()
    assert outputs[0] != outputs[1]
    assert refused and all(refused)


def test_no_bubble_between_columns():
    # one PE, every column 5 entries long, all activations nonzero: ideal = 5 * cols
    config = SMALL.replace(pes=1, fifo_depth=4)
    codes = np.zeros((40, 30), dtype=int)
    codes[[1, 5, 9, 20, 39], :] = 3
    layer = encode(codes, np.arange(1, 16), config=config, relu=False)
    x = np.arange(1, 31)
    [(outputs, cycles)] = run_engine(SpMVEngine(config, layer=layer), [(layer, x)],
                                     gaps=0, backpressure=0)
    assert outputs == golden_spmv(layer, x, config).tolist()
    # Pipeline fill and drain only, counted exactly (one PE, no gaps): 6 cycles before the first
    # entry read (broadcast register, column FIFO write, FIFO output + pointer read, pointer
    # data, pointer register + queue write, queue output) and 5 after the last (block RAM
    # answers, entry register: row and lookup, decode registers: multiply + accumulator read,
    # write back, then the cycle in which the engine sees every PE idle). The entry register
    # and the decode registers added for Fmax (issue 7) took the drain from 3 to 5 cycles, and
    # the broadcast register the fill from 5 to 6, so this bound from +8 to +11.
    assert cycles <= ideal_cycles(layer, x) + 11


@pytest.mark.parametrize("rows_of_column", [
    lambda column: [column % 8],  # every column one entry long (no padding: rows < 8)
    lambda column: [column % 8] if column % 3 else [],  # and every third one empty
])
def test_short_columns_one_per_cycle(rows_of_column):
    # one PE, all activations nonzero: short columns are taken at the broadcast's rate, one per
    # cycle, so the run takes the columns plus the fill and drain of the test above
    config = SMALL.replace(pes=1, fifo_depth=4)
    codes = np.zeros((40, 40), dtype=int)
    for column in range(40):
        codes[rows_of_column(column), column] = column % 15 + 1
    layer = encode(codes, np.arange(1, 16), config=config, relu=False)
    x = np.arange(1, 41)
    [(outputs, cycles)] = run_engine(SpMVEngine(config, layer=layer), [(layer, x)],
                                     gaps=0, backpressure=0)
    assert outputs == golden_spmv(layer, x, config).tolist()
    assert cycles <= max(ideal_cycles(layer, x), len(x)) + 11


@pytest.mark.parametrize("even_rows, odd_rows", [
    ([3, 7], [7, 12]),  # 3 7 7 12 3 7 ...: row 7 back to back (the read's transparency)
    ([3, 7], [3, 7]),  # 3 7 3 7 ...: a row's read issued the cycle after its write
    ([3, 7, 12], [3, 7, 12]),  # a row's read issued two cycles after its write
])
@pytest.mark.parametrize("accumulator_memory", ["auto", "lut"])
def test_entries_of_one_row_in_nearby_cycles_accumulate(even_rows, odd_rows,
                                                        accumulator_memory):
    # one PE, no gaps, columns of 2 or 3 entries (they stream without a bubble): even columns
    # have their entries in even_rows, odd columns in odd_rows
    config = SMALL.replace(pes=1, fifo_depth=4, accumulator_memory=accumulator_memory)
    codes = np.zeros((40, 30), dtype=int)
    codes[even_rows, 0::2] = np.arange(15) % 15 + 1
    codes[odd_rows, 1::2] = np.arange(15) * 7 % 15 + 1
    layer = encode(codes, np.arange(-7, 8) * 3, config=config, relu=False)
    x = np.arange(1, 31) * (-1) ** np.arange(30)
    [(outputs, cycles)] = run_engine(SpMVEngine(config, layer=layer), [(layer, x)],
                                     gaps=0, backpressure=0)
    assert outputs == golden_spmv(layer, x, config).tolist()
    assert cycles <= ideal_cycles(layer, x) + 11  # fill and drain as above: no bubble


@pytest.mark.parametrize("pes", [1, 2, 4, 8, 16])
def test_converts_to_verilog(pes):
    config = SpMVConfig(pes=pes, max_rows=64, max_cols=64, entry_depth=256)
    text = verilog.convert(SpMVEngine(config), name="spmv_engine")
    assert "module spmv_engine" in text


def test_rejects_a_layer_that_does_not_fit():
    layer = encode(np.ones((4, 4), dtype=int), [1], config=SpMVConfig(pes=2))
    with pytest.raises(CSCError, match=r"encoded for pes=2"):
        SpMVEngine(SMALL, layer=layer)


def test_rejects_other_configs():
    with pytest.raises(TypeError, match=r"config must be an SpMVConfig, not 4"):
        SpMVEngine(4)
