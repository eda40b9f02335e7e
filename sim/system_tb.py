"""cocotb testbench of the whole recognizer's generated Verilog (Icarus or Verilator).

Runs inside the simulator's Python; the host side (``sim/system.py``) writes what to do and
judges what comes back against the golden model. Two modes, by the input file's ``mode``:

- ``core``: the recognizer core (``hw.recognizer.Recognizer``) at its streams: per utterance
  pulse ``start``, stream the activations with random gaps, pulse ``finish`` and take the words
  under random backpressure; report words, status and the core's cycle counters.
- ``uart``: the board top (``hw.top.SystemTop``) at its pins: send each frame's bytes on ``rx``
  at the link's bit rate, wait for the one reply frame on ``tx``, report every reply.

As in the other testbenches, everything for one cycle happens after one ``RisingEdge``.
"""

import json
import os
import random

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from sim.tb_reset import start_clock_and_reset

__all__ = ["CoreTestbench", "UartTestbench"]

CYCLE_LIMIT = 20_000_000  # per utterance or reply: far beyond any legal run, so a hang is a bug
COUNTERS = ("frames", "engine_cycles", "viterbi_cycles", "utterance_cycles")


class CoreTestbench:
    """Drives the recognizer core's ``features`` / ``words`` streams and its pulses."""

    def __init__(self, dut, rng, *, gap_probability=0.0, backpressure=0.0):
        self.dut, self.rng = dut, rng
        self.gap_probability, self.backpressure = gap_probability, backpressure

    async def start(self):
        await start_clock_and_reset(self.dut, ("features__valid", "words__ready", "start",
                                               "finish"))

    async def _pulse(self, signal):
        signal.value = 1
        await RisingEdge(self.dut.clk)
        signal.value = 0

    async def _transfer(self, flag):
        """Wait for the clock edge at which ``flag`` (the other side's valid or ready) is high;
        idle stretches are skipped in one step, not cycle by cycle."""
        for _ in range(CYCLE_LIMIT):
            await RisingEdge(self.dut.clk)
            if flag.value:
                return
            await RisingEdge(flag)
        raise AssertionError(f"timed out waiting for {flag._name}")

    async def utterance(self, activations):
        """One utterance; returns words, status and the core's counters."""
        dut = self.dut
        await self._pulse(dut.start)
        for frame in activations:
            for value in frame:
                while self.rng.random() < self.gap_probability:
                    await RisingEdge(dut.clk)
                dut.features__payload.value = int(value) & 0xFFFF
                dut.features__valid.value = 1
                await self._transfer(dut.features__ready)
                dut.features__valid.value = 0
        await self._pulse(dut.finish)
        beats = []
        while not beats or not beats[-1] >> 16 & 1:
            if not dut.words__valid.value:
                await RisingEdge(dut.words__valid)
            ready = self.rng.random() >= self.backpressure
            dut.words__ready.value = int(ready)
            await RisingEdge(dut.clk)
            if ready and dut.words__valid.value:
                beats.append(int(dut.words__payload.value))
        dut.words__ready.value = 0
        counters = {name: int(getattr(dut, name).value) for name in COUNTERS}
        return {"words": [beat & 0xFFFF for beat in beats[:-1]], "status": beats[-1] & 0xFFFF,
                "counters": counters}


class UartTestbench:
    """Sends bytes on ``rx`` and collects bytes from ``tx``, ``divisor`` cycles per bit."""

    def __init__(self, dut, divisor):
        self.dut, self.divisor = dut, divisor
        self.received = bytearray()

    async def start(self):
        self.dut.rx.value = 1
        await start_clock_and_reset(self.dut, ())
        cocotb.start_soon(self._receive())

    async def send(self, data: bytes):
        dut = self.dut
        for byte in data:
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                dut.rx.value = bit
                await ClockCycles(dut.clk, self.divisor)

    async def _receive(self):
        dut = self.dut
        while True:
            await FallingEdge(dut.tx)
            await ClockCycles(dut.clk, self.divisor // 2)
            if dut.tx.value:
                continue  # a glitch, not a start bit
            byte = 0
            for i in range(8):
                await ClockCycles(dut.clk, self.divisor)
                byte |= int(dut.tx.value) << i
            await ClockCycles(dut.clk, self.divisor)
            self.received.append(byte)

    async def reply(self, decoder):
        """Wait for the next complete reply frame."""
        for _ in range(CYCLE_LIMIT // 64):
            await ClockCycles(self.dut.clk, 64)
            if self.received:
                frames = decoder.feed(bytes(self.received))
                self.received.clear()
                if frames:
                    return frames[0]
        raise AssertionError("no reply frame from the device")


@cocotb.test()
async def system_run(dut):
    """Run the input file's utterances (core) or frames (uart); write what came back."""
    with open(os.environ["ASRHW_TB_INPUT"]) as handle:
        request = json.load(handle)
    result = {}
    if request["mode"] == "core":
        bench = CoreTestbench(dut, random.Random(request.get("seed", 0)),
                              gap_probability=request.get("gap_probability", 0.0),
                              backpressure=request.get("backpressure", 0.0))
        await bench.start()
        result["utterances"] = [await bench.utterance(activations)
                                for activations in request["utterances"]]
    else:
        from sw.link import FrameDecoder

        bench = UartTestbench(dut, request["divisor"])
        await bench.start()
        decoder = FrameDecoder(max_payload=request["max_payload"])
        replies = []
        for frame in request["frames"]:
            await bench.send(bytes.fromhex(frame))
            reply = await bench.reply(decoder)
            replies.append({"type": reply.type, "payload": reply.payload.hex()})
        result["replies"] = replies
    with open(os.environ["ASRHW_TB_OUTPUT"], "w") as handle:
        json.dump(result, handle)
