"""Run the Viterbi unit's RTL on a simulator: random graphs, given utterances, or a bench."""

from hw.config import ViterbiConfig, config_to_dict
from hw.viterbi.unit import ViterbiUnit
from sim.runner import run_cocotb
from sim.viterbi_cases import SIM_CONFIG, expectation, make_cases

__all__ = ["bench_utterances", "simulate_cases", "simulate_expectations"]

TOPLEVEL = "viterbi_unit"
TEST_MODULE = "sim.viterbi_tb"


def simulate_expectations(expectations, *, simulator: str, config: ViterbiConfig,
                          gap_probability: float = 0.2, backpressure: float = 0.3,
                          peek_tables: bool = True, seed: int = 0, build_root=None,
                          name: str = "viterbi") -> dict:
    """Decode ``expectations`` (from :func:`sim.viterbi_cases.expectation`) on ``simulator``.

    Returns the testbench's result: ``passed``, ``failed``, ``failures`` (the first few, with
    the first field that differs), per-utterance counters, and wall times.
    """
    inputs = {"config": config_to_dict(config), "seed": seed, "expectations": expectations,
              "gap_probability": gap_probability, "backpressure": backpressure,
              "peek_tables": peek_tables}
    return run_cocotb(ViterbiUnit(config), toplevel=TOPLEVEL, test_module=TEST_MODULE,
                      simulator=simulator, inputs=inputs, build_root=build_root, name=name)


def simulate_cases(*, simulator: str, count: int, seed: int, first: int = 0,
                   config: ViterbiConfig = SIM_CONFIG, build_root=None, progress=None) -> dict:
    """Check random cases ``first .. first+count-1`` of ``sim.viterbi_cases`` on ``simulator``."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    cases = make_cases(first + count, seed, config)[first:]
    if progress is not None:
        cases = progress(cases)
    expectations = [expectation(case, config) for case in cases]
    return simulate_expectations(expectations, simulator=simulator, config=config, seed=seed,
                                 build_root=build_root, name="viterbi-cases")


def bench_utterances(expectations, *, simulator: str, config: ViterbiConfig,
                     build_root=None) -> dict:
    """Decode with no input gaps, no backpressure and no peeking: cycles as in operation."""
    return simulate_expectations(expectations, simulator=simulator, config=config,
                                 gap_probability=0.0, backpressure=0.0, peek_tables=False,
                                 build_root=build_root, name="viterbi-bench")
