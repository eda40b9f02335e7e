"""cocotb testbench of the generated SpMV engine Verilog (Icarus or Verilator).

Runs inside the simulator's Python. Its inputs come as JSON from ``sim.runner.run_cocotb``:

- ``mode: "cases"``: cases ``first .. first+count-1`` of ``sim.spmv_cases`` for ``seed`` are
  loaded through the engine's ``load`` port one by one and run with random input gaps and random
  output backpressure; every output is checked against ``sw.golden.spmv.golden_spmv``.
- ``mode: "bench"``: the layer is already in the memories (initialised in the Verilog); ``x`` is
  streamed back-to-back with an always-ready sink and the cycle counters are reported.

Everything for one cycle happens after one ``RisingEdge``: handshakes are sampled as they were
at the edge, then the next cycle's inputs are driven. One await per cycle keeps Python's cost per
simulated cycle low.
"""

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge

from hw.config import config_from_dict
from sim.tb_reset import start_clock_and_reset
from sw.golden.spmv import golden_spmv, ideal_cycles

__all__ = ["SpMVTestbench"]


def _signed(value, width):
    value = int(value)
    return value - (1 << width) if value >> (width - 1) & 1 else value


class SpMVTestbench:
    """Owns clock, reset, the load port, the activation source and the output sink.

    Parameters
    ----------
    dut : cocotb handle
        The engine's top level.
    config : SpMVConfig
        The configuration the Verilog was generated from.
    rng : random.Random
        Source of input gaps and backpressure.
    gap_probability, backpressure : float
        Chance per cycle that the source idles / that the sink refuses.
    """

    def __init__(self, dut, config, rng, *, gap_probability=0.0, backpressure=0.0):
        self.dut, self.config, self.rng = dut, config, rng
        self.gap_probability, self.backpressure = gap_probability, backpressure
        self.pe_bits = max(1, (config.pes - 1).bit_length())
        self.address_bits = config.load_address_bits
        self.data_bits = max(config.pointer_width, config.entry_width, config.codebook_width,
                             config.bias_width)

    async def start(self):
        """Start the clock and reset the design."""
        # one layer stored: it starts at pointer and bias address 0
        await start_clock_and_reset(
            self.dut, ("activations__valid", "outputs__ready", "load__valid", "start",
                       "column_base", "bias_base"))

    def _load_word(self, target, pe, address, value):
        value &= (1 << self.data_bits) - 1
        return (target | pe << 2 | address << (2 + self.pe_bits)
                | value << (2 + self.pe_bits + self.address_bits))

    def load_words(self, layer):
        """The ``load`` payloads that write ``layer`` (the used part of every memory)."""
        words = []
        for pe in range(layer.pes):
            words += [self._load_word(0, pe, column, int(pointer))
                      for column, pointer in enumerate(layer.col_ptr[pe])]
            words += [self._load_word(1, pe, index, int(entry))
                      for index, entry in enumerate(layer.entries[pe])]
        words += [self._load_word(2, 0, code, int(value))
                  for code, value in enumerate(layer.codebook)]
        words += [self._load_word(3, 0, row, int(value)) for row, value in enumerate(layer.bias)]
        return words

    async def load(self, layer):
        """Write ``layer`` through the load port, one word per cycle."""
        dut = self.dut
        dut.load__valid.value = 1
        for word in self.load_words(layer):
            dut.load__payload.value = word
            await RisingEdge(dut.clk)
            if not dut.load__ready.value:
                raise AssertionError("the engine refused a load write: it is not idle")
        dut.load__valid.value = 0

    async def run(self, *, rows, cols, relu, x):
        """Stream ``x``, collect ``rows`` outputs; return them and the cycle counters."""
        dut, rng = self.dut, self.rng
        width = self.config.act_width
        dut.rows.value, dut.cols.value, dut.relu.value = rows, cols, int(relu)
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        sent, outputs = 0, []
        offering = False
        limit = 200 * (len(x) + rows) + 100_000  # far beyond any legal run: a hang is a bug
        for _ in range(limit):
            if sent < len(x):
                if not offering and rng.random() >= self.gap_probability:
                    offering = True
                    dut.activations__payload.value = int(x[sent]) & ((1 << width) - 1)
                dut.activations__valid.value = int(offering)
            else:
                dut.activations__valid.value = 0
            ready = rng.random() >= self.backpressure
            dut.outputs__ready.value = int(ready)
            await RisingEdge(dut.clk)
            if offering and dut.activations__ready.value:
                sent, offering = sent + 1, False
            if dut.outputs__valid.value and ready:
                outputs.append(_signed(dut.outputs__payload.value, width))
                if len(outputs) == rows:
                    break
        else:
            raise AssertionError(f"no result after {limit} cycles: sent {sent}/{len(x)}, "
                                 f"received {len(outputs)}/{rows}")
        dut.outputs__ready.value = 0
        while dut.busy.value:
            await RisingEdge(dut.clk)
        return outputs, int(dut.compute_cycles.value), int(dut.output_cycles.value)


@cocotb.test()
async def spmv_against_golden(dut):
    """Run the cases or the bench described by the input file; write the results."""
    from sim.spmv_cases import make_case

    request = json.loads(open(os.environ["ASRHW_TB_INPUT"]).read())
    config = config_from_dict(request["config"])
    rng = random.Random(request.get("seed", 0))
    bench = SpMVTestbench(dut, config, rng, gap_probability=request.get("gap_probability", 0),
                          backpressure=request.get("backpressure", 0))
    await bench.start()
    result = {"passed": 0, "failed": 0, "failures": [], "cases": []}
    if request["mode"] == "bench":
        x = request["x"]
        outputs, compute, readout = await bench.run(rows=request["rows"], cols=len(x),
                                                    relu=request["relu"], x=x)
        result.update(outputs=outputs, compute_cycles=compute, output_cycles=readout)
    else:
        for index in range(request["first"], request["first"] + request["count"]):
            case = make_case(index, request["seed"], config)
            layer = case.layer
            await bench.load(layer)
            outputs, compute, readout = await bench.run(rows=layer.rows, cols=layer.cols,
                                                        relu=layer.relu, x=case.x)
            expected = golden_spmv(layer, case.x, config).tolist()
            result["cases"].append({"name": case.name, "compute_cycles": compute,
                                    "ideal_cycles": ideal_cycles(layer, case.x)})
            if outputs == expected:
                result["passed"] += 1
            else:
                result["failed"] += 1
                if len(result["failures"]) < 5:
                    wrong = int(np.flatnonzero(np.array(outputs) != np.array(expected))[0]) \
                        if len(outputs) == len(expected) else -1
                    result["failures"].append({"case": case.name, "index": index,
                                               "first_wrong_row": wrong,
                                               "expected": expected[:16], "got": outputs[:16]})
    with open(os.environ["ASRHW_TB_OUTPUT"], "w") as handle:
        json.dump(result, handle)
