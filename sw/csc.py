"""EIE compressed sparse column format: encoder, decoder, storage accounting.

Contract with the RTL (DESIGN.md): row ``i`` belongs to PE ``i % pes`` as local row
``i // pes``. Per PE and column ``j`` the nonzeros are listed in increasing local row, each as
an entry word ``(code << index_bits) | z`` where ``z`` counts the zero local rows skipped since
the previous entry of the column (the first entry skips from local row -1). A gap wider than
``2**index_bits - 1`` is bridged by padding entries ``(0, 2**index_bits - 1)``: each advances
the row by ``2**index_bits`` and adds nothing. ``col_ptr[pe, j]`` is the index of the first
entry of column ``j``; ``col_ptr[pe, cols]`` is the entry count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.config import SpMVConfig, bits_for

__all__ = [
    "CSCError",
    "EncodedLayer",
    "LAYER_FORMAT",
    "decode",
    "encode",
    "load_layer",
    "quantize_to_codes",
    "save_layer",
    "storage_report",
]

LAYER_FORMAT = ("asrhw.spmv-layer", 1)


class CSCError(ValueError):
    """An input to the encoder or a stored layer is not valid; the message says which."""


@dataclass(frozen=True, eq=False)
class EncodedLayer:
    """One layer in the engine's per-PE format.

    Attributes
    ----------
    rows, cols : int
        Matrix shape (outputs, inputs).
    pes, index_bits : int
        The engine parameters it was encoded for.
    codebook : numpy.ndarray
        ``int64[16]`` fixed-point values of codes 0..15; ``codebook[0] == 0``.
    bias : numpy.ndarray
        ``int64[rows]`` fixed-point biases (activation format).
    col_ptr : numpy.ndarray
        ``int64[pes, cols + 1]`` start of each column in the PE's entry list.
    entries : tuple of numpy.ndarray
        Per PE, ``int64`` entry words ``(code << index_bits) | z``.
    relu : bool
        Whether the layer applies ReLU.
    """

    rows: int
    cols: int
    pes: int
    index_bits: int
    codebook: np.ndarray
    bias: np.ndarray
    col_ptr: np.ndarray
    entries: tuple
    relu: bool = True

    def codes(self, pe: int) -> np.ndarray:
        """4-bit codes of PE ``pe``'s entries."""
        return self.entries[pe] >> self.index_bits

    def skips(self, pe: int) -> np.ndarray:
        """Relative row indices ``z`` of PE ``pe``'s entries."""
        return self.entries[pe] & ((1 << self.index_bits) - 1)

    def local_rows(self, pe: int) -> int:
        """Number of rows PE ``pe`` owns."""
        return len(range(pe, self.rows, self.pes))

    @property
    def entry_counts(self) -> np.ndarray:
        """Entries (padding included) per PE."""
        return np.array([len(e) for e in self.entries], dtype=np.int64)

    @property
    def padding_count(self) -> int:
        """Padding entries over all PEs."""
        return int(sum(int(np.count_nonzero(self.codes(p) == 0)) for p in range(self.pes)))

    @property
    def nonzero_count(self) -> int:
        """Stored nonzero weights (non-padding entries) over all PEs."""
        return int(self.entry_counts.sum()) - self.padding_count

    def column_lengths(self) -> np.ndarray:
        """``int64[pes, cols]`` entries of each column in each PE (the work it causes)."""
        return np.diff(self.col_ptr, axis=1)

    def check_fits(self, config: SpMVConfig) -> None:
        """Raise :class:`CSCError` unless this layer runs on an engine built from ``config``."""
        if config.pes != self.pes or config.index_bits != self.index_bits:
            raise CSCError(
                f"layer was encoded for pes={self.pes}, index_bits={self.index_bits}; the "
                f"engine has pes={config.pes}, index_bits={config.index_bits}")
        if self.rows > config.max_rows:
            raise CSCError(f"layer has {self.rows} rows; the engine holds max_rows="
                           f"{config.max_rows}")
        if self.cols > config.max_cols:
            raise CSCError(f"layer has {self.cols} columns; the engine holds max_cols="
                           f"{config.max_cols}")
        most = int(self.entry_counts.max(initial=0))
        if most > config.entry_depth:
            raise CSCError(f"layer needs {most} entries in one PE; the engine holds "
                           f"entry_depth={config.entry_depth} (exceeded by "
                           f"{most - config.entry_depth})")
        _check_range("codebook", self.codebook, *config.codebook_range)
        _check_range("bias", self.bias, *config.bias_range)


def _check_range(name: str, values: np.ndarray, lo: int, hi: int) -> None:
    if values.size and (values.min() < lo or values.max() > hi):
        bad = values[(values < lo) | (values > hi)][0]
        raise CSCError(f"{name} value {int(bad)} is outside the configured range [{lo}, {hi}]")


def _as_int_array(name: str, values, ndim: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != ndim:
        raise CSCError(f"{name} must have {ndim} dimension(s), not shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise CSCError(f"{name} contains NaN or infinite values")
        if not np.all(array == np.round(array)):
            raise CSCError(f"{name} must hold integers (fixed-point values), not fractions")
    elif array.dtype.kind not in "iub":
        raise CSCError(f"{name} must be numeric, not dtype {array.dtype}")
    return array.astype(np.int64)


def encode(codes, codebook, bias=None, *, config: SpMVConfig, relu: bool | None = None
           ) -> EncodedLayer:
    """Encode a matrix of 4-bit codes for an engine built from ``config``.

    Parameters
    ----------
    codes : array_like of int, shape (rows, cols)
        Code of each weight, 0 (zero) to 15.
    codebook : array_like of int
        Fixed-point values of codes 1..n (``n <= 15``, then ``codebook[0]`` is taken as code
        1) when it has at most 15 entries, or of codes 0..15 when it has 16 (entry 0 must be 0).
    bias : array_like of int, shape (rows,), optional
        Fixed-point biases; zeros when omitted.
    config : SpMVConfig
        Engine the layer is for (PEs, index width, memory sizes, value ranges).
    relu : bool, optional
        Whether the layer applies ReLU; ``config.relu`` when omitted.
    """
    codes = _as_int_array("codes", codes, 2)
    book = _as_int_array("codebook", codebook, 1)
    if book.size > 16:
        raise CSCError(f"codebook has {book.size} entries; 4-bit codes allow at most 16 "
                       "(code 0 = zero and 15 shared values)")
    if book.size == 16:
        if book[0] != 0:
            raise CSCError(f"a 16-entry codebook must have 0 at code 0, not {int(book[0])}")
    else:
        book = np.concatenate([[0], book, np.zeros(15 - book.size, dtype=np.int64)])
    rows, cols = codes.shape
    if rows == 0 or cols == 0:
        raise CSCError(f"codes must have at least one row and one column, not {codes.shape}")
    if codes.min() < 0 or codes.max() > 15:
        raise CSCError(f"codes must be 0..15, found {int(codes.min())}..{int(codes.max())}")
    bias = np.zeros(rows, dtype=np.int64) if bias is None else _as_int_array("bias", bias, 1)
    if bias.shape != (rows,):
        raise CSCError(f"bias must have {rows} values (one per row), not {bias.shape[0]}")

    pes, index_bits = config.pes, config.index_bits
    max_skip = config.max_skip
    col_ptr = np.zeros((pes, cols + 1), dtype=np.int64)
    entries = []
    for pe in range(pes):
        local = codes[pe::pes]  # (local_rows, cols)
        words: list[int] = []
        for j in range(cols):
            col_ptr[pe, j] = len(words)
            previous = -1
            for r in np.flatnonzero(local[:, j]):
                gap = int(r) - previous - 1
                while gap > max_skip:
                    words.append(max_skip)  # padding: code 0, z = max_skip
                    gap -= max_skip + 1
                words.append((int(local[r, j]) << index_bits) | gap)
                previous = int(r)
        col_ptr[pe, cols] = len(words)
        entries.append(np.array(words, dtype=np.int64))
    layer = EncodedLayer(rows=rows, cols=cols, pes=pes, index_bits=index_bits, codebook=book,
                         bias=bias, col_ptr=col_ptr, entries=tuple(entries),
                         relu=config.relu if relu is None else bool(relu))
    layer.check_fits(config)
    return layer


def decode(layer: EncodedLayer) -> np.ndarray:
    """The ``int64[rows, cols]`` code matrix that :func:`encode` was given."""
    codes = np.zeros((layer.rows, layer.cols), dtype=np.int64)
    for pe in range(layer.pes):
        entry_codes, skips = layer.codes(pe), layer.skips(pe)
        for j in range(layer.cols):
            row = -1
            for k in range(layer.col_ptr[pe, j], layer.col_ptr[pe, j + 1]):
                row += int(skips[k]) + 1
                if entry_codes[k]:
                    codes[row * layer.pes + pe, j] = entry_codes[k]
    return codes


def quantize_to_codes(weights, codebook) -> np.ndarray:
    """Nearest nonzero code (1..15) for each nonzero weight; 0 stays code 0.

    ``codebook`` holds the values of codes 1..n (any float or int array, ``n <= 15``).
    """
    weights = np.asarray(weights, dtype=np.float64)
    book = np.asarray(codebook, dtype=np.float64).ravel()
    if book.size == 0 or book.size > 15:
        raise CSCError(f"codebook for quantization needs 1 to 15 values, not {book.size}")
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(book))):
        raise CSCError("weights and codebook must not contain NaN or infinite values")
    nearest = np.abs(weights[..., None] - book).argmin(axis=-1) + 1
    return np.where(weights != 0, nearest, 0).astype(np.int64)


def storage_report(layer: EncodedLayer, *, config: SpMVConfig) -> dict:
    """Storage in bits of the encoded layer against dense and plain CSR.

    Dense counts every weight with a 4-bit code; plain CSR stores each nonzero as a 4-bit code
    plus an absolute row index, and one pointer per column.
    """
    nonzeros = layer.nonzero_count
    padding = layer.padding_count
    entry_bits = 4 + layer.index_bits
    pointer_bits = layer.pes * (layer.cols + 1) * config.pointer_width
    eie_total = (nonzeros + padding) * entry_bits + pointer_bits
    csr_pointer = bits_for(max(nonzeros, 1))
    csr_total = nonzeros * (4 + bits_for(layer.rows - 1)) + (layer.cols + 1) * csr_pointer
    dense = layer.rows * layer.cols * 4
    return {
        "nonzeros": nonzeros,
        "padding_entries": padding,
        "padding_fraction": padding / max(1, nonzeros + padding),
        "code_bits": nonzeros * 4,
        "index_bits": nonzeros * layer.index_bits,
        "padding_bits": padding * entry_bits,
        "pointer_bits": pointer_bits,
        "total_bits": eie_total,
        "bits_per_nonzero": eie_total / max(1, nonzeros),
        "dense_bits": dense,
        "csr_bits": csr_total,
        "vs_dense": eie_total / dense,
        "vs_csr": eie_total / max(1, csr_total),
    }


def save_layer(path, layer: EncodedLayer) -> None:
    """Write ``layer`` to an ``.npz`` file (no pickles)."""
    arrays = {f"entries_{p}": e for p, e in enumerate(layer.entries)}
    np.savez(path, format=np.array(LAYER_FORMAT[0]), version=np.array(LAYER_FORMAT[1]),
             shape=np.array([layer.rows, layer.cols, layer.pes, layer.index_bits]),
             relu=np.array(layer.relu), codebook=layer.codebook, bias=layer.bias,
             col_ptr=layer.col_ptr, **arrays)


def load_layer(path, *, config: SpMVConfig | None = None) -> EncodedLayer:
    """Read a layer written by :func:`save_layer`; check it against ``config`` if given."""
    with np.load(path, allow_pickle=False) as data:
        name = str(data["format"]) if "format" in data else None
        if name != LAYER_FORMAT[0] or int(data["version"]) != LAYER_FORMAT[1]:
            raise CSCError(f"{path} is not an asrhw layer file (format {name!r}); expected "
                           f"{LAYER_FORMAT[0]!r} version {LAYER_FORMAT[1]}")
        rows, cols, pes, index_bits = (int(v) for v in data["shape"])
        entries = tuple(data[f"entries_{p}"].astype(np.int64) for p in range(pes))
        layer = EncodedLayer(rows=rows, cols=cols, pes=pes, index_bits=index_bits,
                             codebook=data["codebook"].astype(np.int64),
                             bias=data["bias"].astype(np.int64),
                             col_ptr=data["col_ptr"].astype(np.int64), entries=entries,
                             relu=bool(data["relu"]))
    if config is not None:
        layer.check_fits(config)
    return layer
