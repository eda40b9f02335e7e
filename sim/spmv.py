"""Run the SpMV engine's RTL on a simulator: many random cases, or one benchmark layer."""

from hw.config import SpMVConfig, config_to_dict
from hw.spmv import SpMVEngine
from sim.runner import run_cocotb
from sim.spmv_cases import SIM_CONFIG

__all__ = ["bench_layer", "simulate_cases"]

TOPLEVEL = "spmv_engine"
TEST_MODULE = "sim.spmv_tb"


def simulate_cases(*, simulator: str, count: int, seed: int, first: int = 0,
                   config: SpMVConfig = SIM_CONFIG, gap_probability: float = 0.2,
                   backpressure: float = 0.2, build_root=None) -> dict:
    """Check cases ``first .. first+count-1`` of ``sim.spmv_cases`` on ``simulator``.

    Returns the testbench's result: ``passed``, ``failed``, ``failures`` (first few, with
    expected and received outputs), per-case ``cases`` cycle counts, and wall times.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    inputs = {"mode": "cases", "config": config_to_dict(config), "seed": seed, "first": first,
              "count": count, "gap_probability": gap_probability, "backpressure": backpressure}
    return run_cocotb(SpMVEngine(config), toplevel=TOPLEVEL, test_module=TEST_MODULE,
                      simulator=simulator, inputs=inputs, build_root=build_root,
                      name="spmv-cases")


def bench_layer(layer, x, *, simulator: str, config: SpMVConfig, build_root=None) -> dict:
    """Run one layer (built into the memories) with ``x`` streamed back-to-back."""
    inputs = {"mode": "bench", "config": config_to_dict(config), "x": [int(v) for v in x],
              "rows": layer.rows, "relu": bool(layer.relu)}
    return run_cocotb(SpMVEngine(config, layer=layer), toplevel=TOPLEVEL,
                      test_module=TEST_MODULE, simulator=simulator, inputs=inputs,
                      build_root=build_root, name="spmv-bench")
