"""Small recognizer designs and utterances for tests: a pruned random MLP and a random graph.

Real designs (the exported digit model and its graph) come from ``sw.system.system_design``;
these are small enough for the Amaranth simulator and quick simulator builds, yet run every
path: several layers with ReLU and ping-pong buffers, padding entries, epsilon arcs, words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hw.config import CostConfig, LinkConfig, SpMVConfig, ViterbiConfig
from sw.features import splice
from sw.graph import random_graph
from sw.model import MLP, ModelConfig
from sw.prune import apply_masks, magnitude_masks
from sw.quantized import quantize_features, quantize_model
from sw.row_order import balance_design
from sw.system import SystemDesign, system_design

__all__ = ["SMALL_COST", "Utterance", "small_design", "small_utterances"]

SMALL_COST = CostConfig(cost_width=12, cost_frac=4, max_outputs=64)


@dataclass(frozen=True)
class Utterance:
    """One utterance as the host sends it: quantized first-layer activations, and the word ids
    spoken when they are known."""

    name: str
    activations: np.ndarray
    reference: tuple = ()


def small_design(seed: int = 0, *, pes: int = 3, num_pdfs: int = 12, max_words: int = 8,
                 sets: int = 8, ways: int = 2, fifo_depth: int = 8, batch: int = 1,
                 splice_context: int = 0, accumulator_banks: int = 1,
                 multiplier_stages: int = 1, accumulate_stages: int = 1,
                 row_order: str = "interleaved", index_bits: int = 2) -> SystemDesign:
    """A 3-layer, 70 %-pruned model (24 inputs: 3 frames of 8) and a random 40-state graph
    over its pdfs; ``splice_context`` 1 has the core splice the 3 frames; ``row_order``
    ``"balanced"`` reorders the rows, the graph's pdfs following
    (:func:`sw.row_order.balance_design`); the 2-bit row indices of the default make padding
    entries occur."""
    shape = ModelConfig(num_pdfs=num_pdfs, hidden=(20, 16), feature_bins=8, context=1)
    model = MLP.initialize(shape, seed=seed)
    rng = np.random.default_rng(seed)
    for bias in model.biases:
        bias += rng.normal(0, 0.3, bias.shape).astype(np.float32)
    model = apply_masks(model, magnitude_masks(model, 0.7))
    spmv = SpMVConfig(pes=pes, index_bits=index_bits,
                      fifo_depth=fifo_depth, batch=batch,
                      accumulator_banks=accumulator_banks,
                      multiplier_stages=multiplier_stages,
                      accumulate_stages=accumulate_stages)
    calibration = rng.normal(0, 1, (64, shape.input_dim)).astype(np.float32)
    quantized = quantize_model(model, spmv, cost=SMALL_COST, acoustic_scale=1.0,
                               calibration=calibration)
    graph = random_graph(seed, num_states=40, num_pdfs=num_pdfs, num_words=10,
                         arcs_per_state=2.5, epsilon_fraction=0.15)
    if row_order == "balanced":
        quantized, graph = balance_design(quantized, graph)
    viterbi = ViterbiConfig(sets=sets, ways=ways, state_bits=6, max_states=64, max_arcs=256,
                            max_pdfs=num_pdfs, beam=30 * 16, trace_depth=256, word_bits=6,
                            cost=SMALL_COST)
    # four clock cycles per bit: the fastest line the UART takes, so simulations stay short
    link = LinkConfig(clock_hz=12_000_000, baud=3_000_000,
                      max_payload=2 * shape.input_dim + 1 + 16, max_words=max_words)
    return system_design(quantized, graph, viterbi, link=link, splice_context=splice_context)


REDUCED_DESIGN = ("reduced: random 24-20-16-12 model on 1 PE, 40-state graph, 2 x 2 table, "
                  "no LOAD frames")


def reduced_design() -> SystemDesign:
    """The small design that fits the iCE40UP5K with the whole system around it (CI builds it):
    one PE, whose column FIFO needs little depth (it balances load between PEs), a 2 x 2
    table, and the model from the bitstream only (the LOAD write paths do not fit beside the
    rest)."""
    design = small_design(0, pes=1, sets=2, ways=2, fifo_depth=4)
    return dataclasses.replace(design, config=dataclasses.replace(design.config,
                                                                  model_load=False))


def small_utterances(design: SystemDesign, count: int, seed: int = 1) -> list:
    """``count`` utterances of 0 to 12 frames of random features (quantized like the host);
    spliced from random frames when the design's core splices them."""
    rng = np.random.default_rng(seed)
    utterances = []
    for index in range(count):
        frames = int(rng.choice([0, 1, 2, 5, 12])) if index else 3
        context = design.config.splice_context
        if context:
            features = rng.normal(0, 1.5, (frames, design.host_frame_values)).astype(np.float32)
            features = splice(features, context) if frames else np.zeros((0, design.input_dim))
        else:
            features = rng.normal(0, 1.5, (frames, design.input_dim)).astype(np.float32)
        activations = (quantize_features(features, design.config.spmv) if frames
                       else np.zeros((0, design.input_dim), dtype=np.int64))
        utterances.append(Utterance(name=f"small-{seed}-{index}", activations=activations))
    return utterances
