# amaranth: UnusedElaboratable=no
"""The recognizer core (hw/recognizer.py) against the golden system model, Amaranth simulator."""

import dataclasses
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.config import ConfigError, SystemConfig
from hw.protocol import Status
from hw.recognizer import Recognizer
from sim.system_cases import small_design, small_utterances
from sw.model_image import model_image
from sw.system import golden_recognize, system_design


async def _recognize(ctx, dut, activations, rng, *, gaps):
    """Run one utterance through ``dut``; return (words, status)."""
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    for frame in activations:
        for value in frame:
            while gaps and rng.random() < 0.3:
                await ctx.tick()
            ctx.set(dut.features.valid, 1)
            ctx.set(dut.features.payload, int(value))
            await ctx.tick().until(dut.features.ready)
            ctx.set(dut.features.valid, 0)
    ctx.set(dut.finish, 1)
    await ctx.tick()
    ctx.set(dut.finish, 0)
    words = []
    while not words or not words[-1][1]:
        ready = not (gaps and rng.random() < 0.4)
        ctx.set(dut.words.ready, int(ready))
        _, _, valid, beat = await ctx.tick().sample(dut.words.valid, dut.words.payload)
        if ready and valid:
            words.append((beat.word, beat.last))
    ctx.set(dut.words.ready, 0)
    *spoken, (status, last) = words
    assert last == 1 and all(not flag for _, flag in spoken)
    return [word for word, _ in spoken], status


def run_utterances(design, utterances, *, gaps, seed=0):
    dut = Recognizer(design.config, model=design.model, graph=design.image, scale=design.scale)
    results = []

    async def testbench(ctx):
        rng = random.Random(seed)
        for utterance in utterances:
            results.append(await _recognize(ctx, dut, design.host_frames(utterance.activations),
                                            rng, gaps=gaps))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return results


@pytest.mark.collisions
@pytest.mark.parametrize("gaps", [False, True], ids=["no-gaps", "random-gaps"])
def test_recognizer_equals_golden(gaps):
    design = small_design(0)
    utterances = small_utterances(design, 8, seed=3)
    results = run_utterances(design, utterances, gaps=gaps, seed=5)
    for utterance, (words, status) in zip(utterances, results, strict=True):
        golden = golden_recognize(design, utterance.activations)
        assert (words, status) == (golden.words, golden.status), utterance.name


@pytest.mark.collisions
@pytest.mark.parametrize("batch", [2, 3, 4])
def test_a_batched_recognizer_equals_golden(batch):
    """Frames gathered into batches (the last one short unless the frame count divides) and
    scored frame by frame give the same words and status as one frame at a time."""
    design = small_design(0, batch=batch)
    utterances = small_utterances(design, 6, seed=4)
    assert {len(u.activations) % batch for u in utterances} != {0}
    results = run_utterances(design, utterances, gaps=True, seed=batch)
    for utterance, (words, status) in zip(utterances, results, strict=True):
        golden = golden_recognize(design, utterance.activations)
        assert (words, status) == (golden.words, golden.status), utterance.name


@pytest.mark.collisions
@pytest.mark.parametrize(("batch", "context"), [(1, 1), (2, 1), (3, 1)])
def test_a_splicing_recognizer_equals_golden(batch, context):
    """The host sends each frame once (edges repeated), the core stacks the context: the words
    and status are the golden model's on the spliced frames."""
    design = small_design(0, batch=batch, splice_context=context)
    assert design.host_frame_values == 8
    utterances = small_utterances(design, 6, seed=5)  # 0, 1, 3 and 5 frames
    assert any(len(u.activations) > batch for u in utterances)
    results = run_utterances(design, utterances, gaps=True, seed=batch)
    for utterance, (words, status) in zip(utterances, results, strict=True):
        golden = golden_recognize(design, utterance.activations)
        assert (words, status) == (golden.words, golden.status), utterance.name


@pytest.mark.collisions
@pytest.mark.parametrize(("batch", "context"), [(1, 0), (2, 0), (3, 1)])
def test_two_accumulator_banks_change_no_word(batch, context):
    """With two banks each layer computes while the one before is read out (reading its rows
    as they are written) and the next batch's first layer while the last is read out: the
    words and status are still golden's."""
    design = small_design(0, batch=batch, splice_context=context, accumulator_banks=2)
    utterances = small_utterances(design, 6, seed=6)
    results = run_utterances(design, utterances, gaps=True, seed=batch)
    for utterance, (words, status) in zip(utterances, results, strict=True):
        golden = golden_recognize(design, utterance.activations)
        assert (words, status) == (golden.words, golden.status), utterance.name


@pytest.mark.collisions
@pytest.mark.parametrize("accumulate_stages", [1, 2])
def test_the_ulx3s_pipeline_stages_change_no_word(accumulate_stages):
    """The ULX3S's engine shape (a batch, two banks, the core splicing) with each multiplier's
    operands registered once more, and with the accumulators read a cycle ahead or not: the
    words and status are still golden's."""
    design = small_design(0, batch=2, splice_context=1, accumulator_banks=2,
                          multiplier_stages=2, accumulate_stages=accumulate_stages)
    utterances = small_utterances(design, 6, seed=8)
    results = run_utterances(design, utterances, gaps=True, seed=5)
    for utterance, (words, status) in zip(utterances, results, strict=True):
        golden = golden_recognize(design, utterance.activations)
        assert (words, status) == (golden.words, golden.status), utterance.name


def test_two_accumulator_banks_take_fewer_engine_cycles():
    """The read-outs overlap the next layer's computation, so the same utterance keeps the
    engine busy for fewer cycles with two banks than with one."""
    cycles = {}
    for banks in (1, 2):
        design = small_design(0, batch=2, accumulator_banks=banks)
        utterance = small_utterances(design, 1, seed=3)[0]
        dut = Recognizer(design.config, model=design.model, graph=design.image,
                         scale=design.scale)

        async def testbench(ctx, dut=dut, banks=banks, frames=utterance.activations):
            await _recognize(ctx, dut, frames, random.Random(0), gaps=False)
            cycles[banks] = ctx.get(dut.engine_cycles)

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(testbench)
        sim.run()
    assert cycles[2] < cycles[1]


def test_splicing_needs_a_first_layer_of_whole_frames():
    design = small_design(0)
    with pytest.raises(ConfigError, match=r"splice_context 2 stacks 5 frames; the first "
                                          r"layer's 24 inputs are not a multiple of it"):
        dataclasses.replace(design.config, splice_context=2).check_model(
            design.model.shapes, design.model.entries_per_pe, design.graph.num_pdfs)
    with pytest.raises(ConfigError, match=r"splice_context must be an int from 0 to 16"):
        dataclasses.replace(design.config, splice_context=17)


@pytest.mark.parametrize(("batch", "context", "banks"), [(1, 0, 1), (3, 0, 1), (2, 1, 1),
                                                         (2, 1, 2)])
def test_counters_say_how_many_frames_ran_and_who_was_busy(batch, context, banks):
    """``frames`` counts the utterance's frames; the Viterbi unit works (expands, follows
    epsilon arcs, collects) for part of the utterance only, waiting for scores the rest."""
    design = small_design(0, batch=batch, splice_context=context, accumulator_banks=banks)
    utterance = small_utterances(design, 1, seed=3)[0]
    dut = Recognizer(design.config, model=design.model, graph=design.image, scale=design.scale)
    counted = {}

    async def testbench(ctx):
        await _recognize(ctx, dut, design.host_frames(utterance.activations), random.Random(0),
                         gaps=False)
        for name in ("frames", "engine_cycles", "viterbi_cycles", "utterance_cycles"):
            counted[name] = ctx.get(getattr(dut, name))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert counted["frames"] == len(utterance.activations)
    assert 0 < counted["viterbi_cycles"] < counted["utterance_cycles"]
    assert 0 < counted["engine_cycles"] < counted["utterance_cycles"]


@pytest.mark.collisions
def test_more_words_than_the_reply_holds_sets_words_lost():
    design = small_design(2, max_words=1)
    utterances = [u for u in small_utterances(design, 30, seed=7)
                  if len(golden_recognize(design, u.activations).search.words) > 1][:2]
    assert utterances, "no utterance with two words in this seed: pick another"
    results = run_utterances(design, utterances, gaps=False)
    for utterance, (words, status) in zip(utterances, results, strict=True):
        golden = golden_recognize(design, utterance.activations)
        assert status & Status.WORDS_LOST
        assert (words, status) == (golden.words, golden.status)


def test_model_too_large_for_the_engine_is_refused_with_the_shortfall():
    design = small_design(0)
    spmv = design.config.spmv.replace(entry_depth=design.model.entries_per_pe - 5)
    with pytest.raises(ConfigError, match=r"entry_depth is \d+; the model needs \d+ \(5 more\)"):
        SystemConfig(spmv=spmv, viterbi=design.config.viterbi).check_model(
            design.model.shapes, design.model.entries_per_pe, design.graph.num_pdfs)


def test_graph_with_other_pdfs_than_the_model_is_refused():
    design = small_design(0, num_pdfs=12)
    other = small_design(1, num_pdfs=10)
    with pytest.raises(ConfigError, match="the graph has 10 pdfs; the model's last layer"):
        system_design(design.quantized, other.graph, other.config.viterbi)


def test_model_image_chains_the_layers():
    design = small_design(0)
    image = model_image(design.quantized.layers)
    offset = np.zeros(image.pes, dtype=np.int64)
    for slot, layer in zip(image.slots, design.quantized.layers, strict=True):
        stored = image.col_ptr[:, slot.column_base:slot.column_base + layer.cols + 1]
        assert np.array_equal(stored, layer.col_ptr + offset[:, None])
        assert np.array_equal(image.bias[slot.bias_base:slot.bias_base + layer.rows], layer.bias)
        offset += layer.entry_counts
