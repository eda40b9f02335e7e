"""cocotb testbench of the generated Viterbi unit Verilog (Icarus or Verilator).

Runs inside the simulator's Python. Its input file (from ``sim.runner.run_cocotb``) holds the
config, random-stimulus settings and a list of expectations made by
``sim.viterbi_cases.expectation`` on the host: graph memory words, per-frame costs and what the
golden decoder produced (words, total cost, flags, counters, the table after every frame).
Each utterance loads its graph through ``graph_load``, streams its costs with random gaps,
reads the table between frames through the peek port, and takes the words under random
backpressure. A mismatch is recorded with the first field that differs.

As in the SpMV testbench, everything for one cycle happens after one ``RisingEdge``: what is
read is what the design showed during the cycle that just ended, then the next cycle's inputs
are driven.
"""

import json
import os
import random

import cocotb
from cocotb.triggers import RisingEdge

from hw.config import config_from_dict
from sim.tb_reset import start_clock_and_reset

__all__ = ["ViterbiTestbench"]

CYCLE_LIMIT = 2_000_000  # per utterance: far beyond any legal run, so a hang is a bug


class ViterbiTestbench:
    """Owns clock, reset, the load port, the score source, the word sink and the peek port.

    Parameters
    ----------
    dut : cocotb handle
        The unit's top level.
    config : ViterbiConfig
        The configuration the Verilog was generated from.
    rng : random.Random
        Source of input gaps and backpressure.
    gap_probability, backpressure : float
        Chance per cycle that the score source idles / that the word sink refuses.
    """

    def __init__(self, dut, config, rng, *, gap_probability=0.0, backpressure=0.0):
        from hw.viterbi.table import hypothesis_layout
        from hw.viterbi.unit import COUNTER_BITS, COUNTERS, load_layout

        self.dut, self.config, self.rng = dut, config, rng
        self.gap_probability, self.backpressure = gap_probability, backpressure
        self.counter_names, self.counter_bits = COUNTERS, COUNTER_BITS
        layout = load_layout(config)
        self.address_shift, self.data_shift = layout["addr"].offset, layout["data"].offset
        hypothesis = hypothesis_layout(config)
        self.hypothesis_fields = [(name, field.offset, field.width)
                                  for name, field in hypothesis]
        self.hypothesis_width = hypothesis.size
        self.none = (1 << config.trace_bits) - 1

    async def start(self):
        """Start the clock and reset the design."""
        await start_clock_and_reset(self.dut, ("graph_load__valid", "scores__valid",
                                               "words__ready", "start", "peek_set"))

    async def load(self, expected):
        """Write the graph's state and arc records, one per cycle."""
        dut = self.dut
        dut.graph_load__valid.value = 1
        for target, words in ((0, expected["states"]), (1, expected["arcs"])):
            for address, word in enumerate(words):
                dut.graph_load__payload.value = (target | address << self.address_shift
                                                 | int(word) << self.data_shift)
                await RisingEdge(dut.clk)
                if not dut.graph_load__ready.value:
                    raise AssertionError("the unit refused a graph write: it is not idle")
        dut.graph_load__valid.value = 0
        dut.start_state.value = expected["start"]
        dut.start_has_eps.value = expected["start_has_eps"]

    def _hypothesis(self, word):
        return {name: (word >> offset) & ((1 << width) - 1)
                for name, offset, width in self.hypothesis_fields}

    async def peek(self):
        """The current bank as ``[set, way, state, cost, trace]`` rows in read order."""
        dut, config = self.dut, self.config
        rows = []
        for s in range(config.sets + 1):
            if s < config.sets:
                dut.peek_set.value = s
            await RisingEdge(dut.clk)
            if s == 0:
                continue
            valid = int(dut.peek_valid.value)
            entries = int(dut.peek_entries.value)
            for w in range(config.ways):
                if valid >> w & 1:
                    entry = self._hypothesis(entries >> (w * self.hypothesis_width))
                    trace = -1 if entry["trace"] == self.none else entry["trace"]
                    rows.append([s - 1, w, entry["state"], entry["cost"], trace])
        return rows

    async def _wait(self, signal, value, what):
        for _ in range(CYCLE_LIMIT):
            await RisingEdge(self.dut.clk)
            if int(signal.value) == value:
                return
        raise AssertionError(f"timed out waiting for {what}")

    async def send(self, cost, frame_end, utterance_end):
        """One score beat, after random idle cycles; the unit takes it (it is filling)."""
        dut = self.dut
        while self.rng.random() < self.gap_probability:
            await RisingEdge(dut.clk)
        width = self.config.cost.cost_width
        dut.scores__payload.value = (int(cost) | int(frame_end) << width
                                     | int(utterance_end) << (width + 1))
        dut.scores__valid.value = 1
        await RisingEdge(dut.clk)
        dut.scores__valid.value = 0
        if not dut.scores__ready.value:
            raise AssertionError("the unit refused a score while filling")

    async def utterance(self, expected, *, peek_tables=True):
        """Decode one utterance; return what the unit produced."""
        dut = self.dut
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        tables = []
        frames = expected["costs"]
        for index, frame in enumerate(frames):
            await self._wait(dut.waiting, 1, f"frame {index} to be wanted")
            if index and peek_tables:
                tables.append(await self.peek())
            for pdf, cost in enumerate(frame):
                await self.send(cost, pdf == len(frame) - 1, 0)
        await self._wait(dut.waiting, 1, "the end of the utterance to be wanted")
        if frames and peek_tables:
            tables.append(await self.peek())
        await self.send(0, 0, 1)
        words = []
        word_bits = self.config.word_bits
        for _ in range(CYCLE_LIMIT):
            ready = self.rng.random() >= self.backpressure
            dut.words__ready.value = int(ready)
            await RisingEdge(dut.clk)
            if ready and dut.words__valid.value:
                payload = int(dut.words__payload.value)
                if payload >> word_bits & 1:
                    break
                words.append(payload & ((1 << word_bits) - 1))
        else:
            raise AssertionError("the unit sent no end of words")
        dut.words__ready.value = 0
        await RisingEdge(dut.clk)
        packed = int(dut.counters.value)
        bits = self.counter_bits
        counters = {name: (packed >> (bits * i)) & ((1 << bits) - 1)
                    for i, name in enumerate(self.counter_names)}
        return {"words": words[::-1], "total_cost": int(dut.total_cost.value),
                "final_reached": int(dut.final_reached.value),
                "trace_overflow": int(dut.trace_overflow.value),
                "counters": counters, "tables": tables}


def first_difference(expected, produced, golden_counters):
    """The first field where the unit differs from the golden model, or ``None``."""
    for key in ("words", "total_cost", "final_reached", "trace_overflow"):
        if produced[key] != expected[key]:
            return {"field": key, "expected": expected[key], "got": produced[key]}
    for name in golden_counters:
        if produced["counters"][name] != expected["counters"][name]:
            return {"field": f"counters.{name}", "expected": expected["counters"][name],
                    "got": produced["counters"][name]}
    if produced["tables"]:
        for frame, (rtl, golden) in enumerate(zip(produced["tables"], expected["tables"],
                                                  strict=True)):
            if rtl != golden:
                return {"field": f"table after frame {frame}", "expected": golden[:8],
                        "got": rtl[:8]}
    return None


@cocotb.test()
async def viterbi_against_golden(dut):
    """Decode every utterance of the input file and compare; write the results."""
    from sim.viterbi_cases import GOLDEN_COUNTERS

    with open(os.environ["ASRHW_TB_INPUT"]) as handle:
        request = json.load(handle)
    config = config_from_dict(request["config"])
    rng = random.Random(request.get("seed", 0))
    bench = ViterbiTestbench(dut, config, rng, gap_probability=request.get("gap_probability", 0),
                             backpressure=request.get("backpressure", 0))
    await bench.start()
    result = {"passed": 0, "failed": 0, "failures": [], "utterances": []}
    for expected in request["expectations"]:
        await bench.load(expected)
        produced = await bench.utterance(expected, peek_tables=request.get("peek_tables", True))
        counters = produced["counters"]
        result["utterances"].append({"name": expected["name"], "frames": len(expected["costs"]),
                                     "trace_overflow": produced["trace_overflow"],
                                     "final_reached": produced["final_reached"],
                                     **{name: counters[name] for name in counters}})
        difference = first_difference(expected, produced, GOLDEN_COUNTERS)
        if difference is None:
            result["passed"] += 1
        else:
            result["failed"] += 1
            if len(result["failures"]) < 5:
                result["failures"].append({"case": expected["name"], **difference})
    with open(os.environ["ASRHW_TB_OUTPUT"], "w") as handle:
        json.dump(result, handle)
