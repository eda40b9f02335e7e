"""A whole quantized model laid out in one engine's memories, layer after layer.

The system runs every layer on the same SpMV engine, so the layers share its memories: per PE,
layer ``l``'s column pointers follow those of layer ``l - 1`` (``column_base`` = the columns of
the layers before it) and are absolute indices into the PE's entry memory, where the layers'
entries follow each other too; biases likewise (``bias_base``). Codebooks are loaded into the
engine before each layer, so each layer keeps its own. The image is what the RTL is built with
and what the fit check measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.config import ConfigError, SpMVConfig
from sw.csc import CSCError

__all__ = ["LayerSlot", "ModelImage", "model_image", "system_spmv_config"]


@dataclass(frozen=True)
class LayerSlot:
    """Where one layer sits in the engine's memories and how it runs."""

    rows: int
    cols: int
    relu: bool
    column_base: int
    bias_base: int
    codebook: tuple


@dataclass(frozen=True, eq=False)
class ModelImage:
    """Engine memory contents of every layer (the shape :class:`hw.spmv.SpMVEngine` takes).

    Attributes
    ----------
    pes, index_bits : int
        The engine the layers were encoded for.
    slots : tuple of LayerSlot
        One per layer, in the order they run.
    col_ptr : numpy.ndarray
        ``int64[pes, total_cols + 1]``: absolute entry index where each stored column starts.
    entries : tuple of numpy.ndarray
        Per PE, every layer's entry words one layer after another.
    bias : numpy.ndarray
        Every layer's biases one layer after another.
    codebook : numpy.ndarray
        The first layer's codebook (the engine's initial one).
    """

    pes: int
    index_bits: int
    slots: tuple
    col_ptr: np.ndarray
    entries: tuple
    bias: np.ndarray
    codebook: np.ndarray

    @property
    def shapes(self) -> list:
        """``(rows, cols)`` per layer."""
        return [(slot.rows, slot.cols) for slot in self.slots]

    def load_records(self) -> list:
        """``(memory, pe, address, value)`` of every word a LOAD must write for a recognizer to
        hold this model (memories as :class:`hw.protocol.ModelMemory`; codebooks at
        ``16 * layer + code``)."""
        from hw.protocol import ModelMemory

        records = []
        for pe in range(self.pes):
            records += [(ModelMemory.POINTER, pe, address, int(value))
                        for address, value in enumerate(self.col_ptr[pe])]
            records += [(ModelMemory.ENTRY, pe, address, int(value))
                        for address, value in enumerate(self.entries[pe])]
        for layer, slot in enumerate(self.slots):
            records += [(ModelMemory.CODEBOOK, 0, 16 * layer + code, int(value))
                        for code, value in enumerate(slot.codebook)]
        records += [(ModelMemory.BIAS, 0, address, int(value))
                    for address, value in enumerate(self.bias)]
        return records

    @property
    def entries_per_pe(self) -> int:
        """Entries the fullest PE stores over all layers."""
        return max(len(entries) for entries in self.entries)

    def check_fits(self, config: SpMVConfig) -> None:
        """Raise :class:`~sw.csc.CSCError` unless an engine built from ``config`` holds it."""
        if config.pes != self.pes or config.index_bits != self.index_bits:
            raise CSCError(f"model was encoded for pes={self.pes}, index_bits="
                           f"{self.index_bits}; the engine has pes={config.pes}, index_bits="
                           f"{config.index_bits}")
        try:
            config.check_layers(self.shapes, self.entries_per_pe)
        except ConfigError as error:
            raise CSCError(str(error)) from error
        lo, hi = config.codebook_range
        for index, slot in enumerate(self.slots):
            book = np.asarray(slot.codebook)
            if book.min() < lo or book.max() > hi:
                raise CSCError(f"layer {index}'s codebook leaves the range [{lo}, {hi}]")
        lo, hi = config.bias_range
        if self.bias.size and (self.bias.min() < lo or self.bias.max() > hi):
            raise CSCError(f"a bias leaves the configured range [{lo}, {hi}]")


def model_image(layers) -> ModelImage:
    """Lay ``layers`` (``sw.csc.EncodedLayer``, in order) out one after another."""
    layers = list(layers)
    if not layers:
        raise CSCError("a model needs at least one layer")
    pes, index_bits = layers[0].pes, layers[0].index_bits
    for index, layer in enumerate(layers):
        if (layer.pes, layer.index_bits) != (pes, index_bits):
            raise CSCError(f"layer {index} was encoded for pes={layer.pes}, index_bits="
                           f"{layer.index_bits}; layer 0 for pes={pes}, index_bits={index_bits}")
    slots, pointers, entries, biases = [], [[] for _ in range(pes)], [[] for _ in range(pes)], []
    column_base = bias_base = 0
    for layer in layers:
        slots.append(LayerSlot(rows=layer.rows, cols=layer.cols, relu=bool(layer.relu),
                               column_base=column_base, bias_base=bias_base,
                               codebook=tuple(int(v) for v in layer.codebook)))
        for pe in range(pes):
            offset = len(entries[pe])
            pointers[pe].extend(int(p) + offset for p in layer.col_ptr[pe, :layer.cols])
            entries[pe].extend(int(e) for e in layer.entries[pe])
        biases.extend(int(b) for b in layer.bias)
        column_base += layer.cols
        bias_base += layer.rows
    for pe in range(pes):
        pointers[pe].append(len(entries[pe]))
    return ModelImage(pes=pes, index_bits=index_bits, slots=tuple(slots),
                      col_ptr=np.array(pointers, dtype=np.int64),
                      entries=tuple(np.array(e, dtype=np.int64) for e in entries),
                      bias=np.array(biases, dtype=np.int64),
                      codebook=np.array(layers[0].codebook, dtype=np.int64))


def system_spmv_config(config: SpMVConfig, image: ModelImage) -> SpMVConfig:
    """``config`` with its memories sized exactly for ``image`` (every layer stored)."""
    shapes = image.shapes
    return config.replace(max_rows=max(r for r, _ in shapes), max_cols=max(c for _, c in shapes),
                          column_depth=sum(c for _, c in shapes),
                          bias_depth=sum(r for r, _ in shapes),
                          entry_depth=max(1, image.entries_per_pe))
