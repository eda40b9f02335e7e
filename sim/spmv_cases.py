"""Random and edge-case layers for the SpMV engine, deterministic from a seed.

One generator serves the pytest suites, ``asrhw sim spmv`` and the cocotb testbench, so a
failing case is reproduced by its seed and index alone.
"""

from dataclasses import dataclass

import numpy as np

from hw.config import SpMVConfig
from sw.csc import EncodedLayer, encode

__all__ = ["SIM_CONFIG", "SpMVCase", "make_case", "make_cases"]

# The design the simulator suites build once and load every case into at run time: large
# enough for 300 x 300 dense layers on 4 PEs, small widths so that values saturate often.
SIM_CONFIG = SpMVConfig(pes=4, act_width=12, act_frac=4, codebook_width=8, codebook_frac=5,
                        bias_width=12, index_bits=4, fifo_depth=4, max_rows=300, max_cols=300,
                        entry_depth=32768)

EDGE_KINDS = ("one_by_one", "all_zero_matrix", "all_zero_x", "dense", "empty_columns",
              "long_gaps", "saturating", "largest")


@dataclass(frozen=True)
class SpMVCase:
    """One layer and one activation vector."""

    name: str
    layer: EncodedLayer
    x: np.ndarray


def _codes(rng, rows, cols, density):
    return np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)), 0)


def make_case(index: int, seed: int, config: SpMVConfig = SIM_CONFIG) -> SpMVCase:
    """Case ``index`` of the sequence for ``seed``: edge cases first, then random ones."""
    rng = np.random.default_rng([seed, index])
    lo, hi = config.act_range
    kind = EDGE_KINDS[index] if index < len(EDGE_KINDS) else "random"
    limit_rows, limit_cols = config.max_rows, config.max_cols
    # Mostly small shapes (each case is loaded entry by entry), a few up to the memories' limit.
    density = float(rng.choice([0.02, 0.1, 0.3, 0.6, 1.0]))
    if rng.random() < 0.96:
        rows, cols = (int(v) for v in rng.integers(1, min(33, limit_rows + 1), 2))
    else:
        rows = int(rng.integers(1, limit_rows + 1))
        cols = int(rng.integers(1, limit_cols + 1))
        density = min(density, 0.1)
    book = rng.integers(*config.codebook_range, endpoint=True, size=15)
    bias = rng.integers(*config.bias_range, endpoint=True, size=1)
    x_density = 0.5
    x_scale = hi
    if kind == "one_by_one":
        rows = cols = 1
    elif kind == "all_zero_matrix":
        density = 0.0
    elif kind == "all_zero_x":
        x_density = 0.0
    elif kind == "dense":
        density, rows, cols = 1.0, min(64, limit_rows), min(64, limit_cols)
    elif kind == "long_gaps":
        rows, cols, density = min(300, limit_rows), min(16, limit_cols), 0.02
    elif kind == "saturating":
        density, rows, cols = 1.0, 8, min(32, limit_cols)
        book = np.full(15, config.codebook_range[1])
    elif kind == "largest":
        rows, cols, density = limit_rows, limit_cols, 0.1
    else:
        x_scale = int(rng.choice([8, 256, hi]))
    codes = _codes(rng, rows, cols, density)
    if kind == "empty_columns":
        codes[:, rng.random(cols) < 0.5] = 0
    bias = rng.integers(*config.bias_range, endpoint=True, size=rows)
    if kind != "saturating":
        bias = bias // int(rng.choice([1, 16, 256]))
    layer = encode(codes, book, bias, config=config, relu=bool(rng.integers(2)))
    x = np.where(rng.random(cols) < x_density,
                 rng.integers(max(lo, -x_scale), min(hi, x_scale) + 1, cols), 0)
    if kind == "saturating":
        x = np.full(cols, hi)
    return SpMVCase(f"{kind}-{seed}-{index}", layer, x.astype(np.int64))


def make_cases(count: int, seed: int, config: SpMVConfig = SIM_CONFIG) -> list[SpMVCase]:
    """The first ``count`` cases for ``seed``."""
    return [make_case(index, seed, config) for index in range(count)]
