# amaranth: UnusedElaboratable=no
"""The iCE40 SPRAM store (SB_SPRAM256KA instances) on yosys' model of the primitive."""

import numpy as np
import pytest

from hw.spram import SPRAM, blocks_for, spram_simulation_model
from sim.runner import run_cocotb


def test_blocks_are_counted_by_depth():
    assert [blocks_for(d) for d in (1, 16384, 16385, 28532, 65536)] == [1, 1, 2, 2, 4]


@pytest.mark.parametrize("width, depth", [(0, 10), (17, 10), (8, 0), (8, 65537)])
def test_impossible_shapes_are_refused(width, depth):
    with pytest.raises(ValueError, match="must be an int from"):
        SPRAM(width=width, depth=depth)


def test_the_simulation_model_is_yosys_cell():
    model = spram_simulation_model()
    assert model.startswith("module SB_SPRAM256KA") and model.rstrip().endswith("endmodule")


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_words_read_back_across_blocks(simulator):
    # two blocks: addresses on both sides of the 16 K boundary, in random order
    rng = np.random.default_rng(5)
    depth = 20000
    addresses = [0, 1, 16383, 16384, 16385, depth - 1]
    addresses += [int(a) for a in rng.choice(depth, 200, replace=False) if a not in addresses]
    codes = rng.integers(0, 256, len(addresses))
    values = {a: int(v) for a, v in zip(addresses, codes, strict=True)}
    writes = [[a, values[a]] for a in addresses]
    reads = [int(a) for a in rng.permutation(addresses)]
    result = run_cocotb(SPRAM(width=8, depth=depth), toplevel="spram",
                        test_module="sim.spram_tb", simulator=simulator,
                        inputs={"writes": writes, "reads": reads}, name="spram")
    assert result["read"] == [values[a] for a in reads]
