"""The whole recognizer on the host side: one design (model + graph + config) and its golden run.

A :class:`SystemDesign` is what the RTL is built from (``hw.recognizer.Recognizer``, the board
tops) and what the golden model runs, so the two cannot drift apart: the engine config is sized
for the model's layers, the Viterbi config is the caller's, and both must agree on the cost
format the model was exported with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hw.config import ConfigError, LinkConfig, SystemConfig, ViterbiConfig
from hw.protocol import Status
from sw.features import splice
from sw.golden.viterbi import GoldenResult, decode
from sw.golden.viterbi_image import ViterbiImage, graph_image
from sw.graph import Graph
from sw.model_image import ModelImage, model_image, system_spmv_config
from sw.quantized import QuantizedModel, fast_forward

__all__ = ["DesignChoice", "SystemDesign", "SystemResult", "golden_recognize", "host_frames",
           "system_design"]


@dataclass(frozen=True, eq=False)
class SystemDesign:
    """Everything one recognizer build holds.

    Attributes
    ----------
    config : SystemConfig
        The checked configuration (engine memories sized for ``model``).
    quantized : QuantizedModel
        The acoustic model in the engine's arithmetic.
    graph : Graph
        The decoding graph.
    model : ModelImage
        The layers as laid out in the engine's memories.
    image : ViterbiImage
        The graph as laid out in the Viterbi unit's memories.
    """

    config: SystemConfig
    quantized: QuantizedModel
    graph: Graph
    model: ModelImage
    image: ViterbiImage

    @property
    def input_dim(self) -> int:
        """Activations per frame (the first layer's columns)."""
        return self.model.slots[0].cols

    @property
    def host_frame_values(self) -> int:
        """Values the host sends per frame: ``input_dim``, or a frame's share of it when the
        core splices the context (``SystemConfig.splice_context``)."""
        return self.config.host_frame_values(self.input_dim)

    def host_frames(self, activations) -> np.ndarray:
        """What the host sends for ``activations`` (``int[frames, input_dim]``, spliced):
        themselves, or, when the core splices, the frames they were spliced from with the
        edge frames repeated (:func:`host_frames`)."""
        return host_frames(activations, self.config.splice_context)

    @property
    def load_format(self):
        """The LOAD records this design's recognizer takes (``hw.protocol.LoadFormat``)."""
        from hw.protocol import LoadFormat

        return LoadFormat.for_recognizer(self.config.spmv, len(self.model.slots))

    @property
    def scale(self) -> int:
        """The cost unit's fixed-point acoustic scale."""
        return self.quantized.scale


@dataclass(frozen=True)
class DesignChoice:
    """What a digit recognizer is built with besides its model and graph: the Viterbi unit's
    table (``sets`` x ``ways``), beam (cost units, float) and trace depth, the SpMV engine's
    PE count, column FIFO depth, batch (frames per pass over the weights), accumulator banks
    (2: each layer computes while the one before is read out), multiplier stages (2: the
    operands registered once more, ``SpMVConfig.multiplier_stages``) and accumulate stages (2:
    the accumulators read a cycle ahead, ``SpMVConfig.accumulate_stages``), whether the core
    splices the context (``splice_context``, ``SystemConfig``), and the width
    of the costs the cost unit hands the Viterbi unit (``None``: the ones the model was
    exported with; the model is re-encoded for another PE count, its outputs do not change;
    narrower costs saturate sooner), and whether the Viterbi unit skips settled epsilon
    passes (``ViterbiConfig.skip_settled_passes``), and the order of the rows over the PEs
    (``row_order``, :data:`sw.row_order.ROW_ORDERS`: ``"balanced"`` reorders them so the PEs
    share the work and pad less, the pdfs too with the graph's labels following,
    :func:`sw.row_order.balance_design`; the words do not change), and the width of the
    entries' relative row indices (``index_bits``, ``None``: the model's; wider, fewer padding
    entries). Each board has its own (:attr:`boards.Board.recognizer`)."""

    sets: int = 16
    ways: int = 4
    beam: float = 12.0
    trace_depth: int = 1024
    splice_context: int = 0
    pes: int | None = None
    fifo_depth: int | None = None
    batch: int | None = None
    accumulator_banks: int | None = None
    multiplier_stages: int | None = None
    accumulate_stages: int | None = None
    cost_width: int | None = None
    skip_settled_passes: bool = True
    row_order: str = "interleaved"
    index_bits: int | None = None

    def given(self, **choices) -> DesignChoice:
        """This choice with every ``choices`` value that is not ``None`` (options a user gave)."""
        return replace(self, **{k: v for k, v in choices.items() if v is not None})


@dataclass(frozen=True)
class SystemResult:
    """What the recognizer answers for one utterance: words, status, and the search behind it."""

    words: list
    status: int
    search: GoldenResult


def system_design(quantized: QuantizedModel, graph: Graph, viterbi: ViterbiConfig, *,
                  link: LinkConfig | None = None, max_layers: int = 4,
                  splice_context: int = 0) -> SystemDesign:
    """Check that ``quantized`` and ``graph`` fit together and lay both out for the hardware
    (``splice_context``: frames of context the core splices, ``SystemConfig``)."""
    if viterbi.cost != quantized.cost:
        raise ConfigError(f"the Viterbi unit's cost format {viterbi.cost} differs from the one "
                          f"the model was exported with {quantized.cost}")
    if graph.num_pdfs != quantized.layers[-1].rows:
        raise ConfigError(f"the graph has {graph.num_pdfs} pdfs; the model's last layer gives "
                          f"{quantized.layers[-1].rows} scores")
    if quantized.spmv.batch > 1:
        # a batch's frames reach the Viterbi unit back to back: it takes the next frame's
        # scores while it searches one, or the search waits for every score of every frame
        viterbi = replace(viterbi, score_banks=2)
    model = model_image(quantized.layers)
    config = SystemConfig(spmv=system_spmv_config(quantized.spmv, model), viterbi=viterbi,
                          link=link or LinkConfig(), max_layers=max_layers,
                          splice_context=splice_context)
    config.check_model(model.shapes, model.entries_per_pe, graph.num_pdfs)
    return SystemDesign(config=config, quantized=quantized, graph=graph, model=model,
                        image=graph_image(graph, viterbi))


def golden_recognize(design: SystemDesign, activations) -> SystemResult:
    """The words and status the recognizer answers for ``activations`` (``int[frames, dims]``,
    the quantized first-layer inputs the host sends)."""
    activations = np.asarray(activations)
    if activations.ndim != 2 or activations.shape[1] != design.input_dim:
        raise ValueError(f"activations must have shape (frames, {design.input_dim}), not "
                         f"{activations.shape}")
    if len(activations):
        _, costs = fast_forward(design.quantized, activations)
    else:
        costs = np.zeros((0, design.graph.num_pdfs), dtype=np.int64)
    search = decode(design.graph, costs, design.config.viterbi)
    status = Status.TRACE_OVERFLOW if search.trace_overflow else Status(0)
    words = list(search.words)
    if len(words) > design.config.link.max_words:
        # the unit gives the words last first, so the earliest ones are the ones dropped
        words = words[len(words) - design.config.link.max_words:]
        status |= Status.WORDS_LOST
    return SystemResult(words=words, status=int(status), search=search)


def host_frames(activations, context: int) -> np.ndarray:
    """The frames spliced activations were stacked from, edge frames repeated ``context`` times:
    what the host sends a core that splices ±``context`` frames itself.

    Spliced frame ``t`` holds frames ``t - context .. t + context`` (``sw.features.splice``), so
    its middle block is frame ``t``; the result is ``[first] * context + frames + [last] *
    context``, and frames ``t .. t + 2 * context`` of it are spliced frame ``t`` again. Raises
    ``ValueError`` if ``activations`` are not such a splice (a block differs from the frame it
    should repeat): the core would compute something else than the golden model.
    """
    activations = np.asarray(activations)
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        raise ValueError(f"context must be an int >= 0, not {context!r}")
    if context == 0:
        return activations
    window = 2 * context + 1
    if activations.ndim != 2 or activations.shape[1] % window:
        raise ValueError(f"activations must have shape (frames, {window} * values) to be "
                         f"spliced from {window} frames, not {activations.shape}")
    count, values = len(activations), activations.shape[1] // window
    frames = activations[:, context * values:(context + 1) * values]
    padded = np.concatenate([frames[:1]] * context + [frames] + [frames[-1:]] * context)
    if count:
        # int16 activations are exact in splice's float32
        mismatch = np.flatnonzero((splice(frames, context) != activations).any(axis=1))
        if len(mismatch):
            raise ValueError(f"activations are not spliced from ±{context} frames: frame "
                             f"{mismatch[0]} differs from its neighbours' middle blocks")
    return padded
