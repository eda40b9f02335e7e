"""Run the whole recognizer's RTL on a simulator and judge it against the golden system model.

``simulate_core`` drives the recognizer core at its streams (fast: what ``asrhw compare`` and
the bit-exact tests use); ``simulate_uart`` drives the board top at its UART pins with the
host's own frames, good and damaged ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from hw.config import SystemConfig
from hw.recognizer import Recognizer
from hw.top import SystemTop
from sim.runner import run_cocotb
from sw.system import SystemDesign, golden_recognize

__all__ = ["UtteranceCheck", "check_core", "simulate_core", "simulate_uart"]

TEST_MODULE = "sim.system_tb"


def simulate_core(design: SystemDesign, utterances, *, simulator: str, seed: int = 0,
                  gap_probability: float = 0.0, backpressure: float = 0.0, build_root=None,
                  name: str = "recognizer") -> dict:
    """Run ``utterances`` (each with ``activations``) through the core; the testbench's result
    (``utterances``: words, status, counters) plus build and run wall times."""
    core = Recognizer(design.config, model=design.model, graph=design.image, scale=design.scale)
    inputs = {"mode": "core", "seed": seed, "gap_probability": gap_probability,
              "backpressure": backpressure,
              "utterances": [design.host_frames(u.activations).astype(int).tolist()
                             for u in utterances]}
    return run_cocotb(core, toplevel="recognizer", test_module=TEST_MODULE, simulator=simulator,
                      inputs=inputs, build_root=build_root, name=name)


def simulate_uart(design: SystemDesign, frames, *, simulator: str, build_root=None,
                  name: str = "system-top") -> list:
    """Send each of ``frames`` (bytes) to the board top's ``rx`` and return the reply frames
    (``(type, payload bytes)``) in order."""
    config: SystemConfig = design.config
    top = SystemTop(config, model=design.model, graph=design.image, scale=design.scale)
    inputs = {"mode": "uart", "divisor": config.link.divisor,
              "max_payload": config.link.max_payload, "frames": [bytes(f).hex() for f in frames]}
    result = run_cocotb(top, toplevel="system_top", test_module=TEST_MODULE,
                        simulator=simulator, inputs=inputs, build_root=build_root, name=name)
    return [(reply["type"], bytes.fromhex(reply["payload"])) for reply in result["replies"]]


@dataclass(frozen=True)
class UtteranceCheck:
    """One utterance through one simulator, next to the golden model."""

    name: str
    frames: int
    golden_words: list
    words: list
    golden_status: int
    status: int
    counters: dict

    @property
    def matches(self) -> bool:
        return (self.words, self.status) == (self.golden_words, self.golden_status)


def check_core(design: SystemDesign, utterances, result: dict) -> list:
    """Pair the simulator's answers (``simulate_core`` result) with the golden model's."""
    checks = []
    for utterance, produced in zip(utterances, result["utterances"], strict=True):
        golden = golden_recognize(design, utterance.activations)
        checks.append(UtteranceCheck(
            name=utterance.name, frames=len(utterance.activations), golden_words=golden.words,
            words=produced["words"], golden_status=golden.status, status=produced["status"],
            counters=produced["counters"]))
    return checks
