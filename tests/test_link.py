# amaranth: UnusedElaboratable=no
"""Host link: UART loopback, frame receiver/sender RTL against the host codec, host retries."""

import numpy as np
import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from hw.config import ConfigError, LinkConfig
from hw.link import FrameReceiver, FrameSender
from hw.protocol import FrameType, LinkError, crc16_ccitt_false
from hw.uart import UARTReceiver, UARTTransmitter
from sw.link import FrameDecoder, HostLink, LinkFailure, encode_frame

CONFIG = LinkConfig(clock_hz=1_000_000, baud=125_000, max_payload=64, idle_timeout_bytes=2,
                    max_words=8)
BYTE_GAP = 10  # cycles between bytes handed to the receiver: a byte time at divisor 8 is 80


def test_crc_matches_amaranth_catalog():
    from amaranth.lib import crc
    reference = crc.catalog.CRC16_CCITT_FALSE(data_width=8)
    for message in (b"123456789", b"", bytes(range(200))):
        assert crc16_ccitt_false(message) == reference.compute(message)


def test_uart_loopback_under_random_pacing():
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(CONFIG)
    m.submodules.rx = rx = UARTReceiver(CONFIG)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = list(range(256))[::7] + [0x00, 0xFF, 0xA5]
    got = []

    async def source(ctx):
        for value in sent:
            ctx.set(tx.bytes.payload, value)
            ctx.set(tx.bytes.valid, 1)
            await ctx.tick().until(tx.bytes.ready)
            ctx.set(tx.bytes.valid, 0)

    async def sink(ctx):
        ctx.set(rx.bytes.ready, 1)
        while len(got) < len(sent):
            _, _, valid, payload = await ctx.tick().sample(rx.bytes.valid, rx.bytes.payload)
            if valid:
                got.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run_until(1e-6 * 100 * (len(sent) + 5))
    assert got == sent


def run_receiver(stream_of_bytes, *, gap_after=None, cycles=None):
    """Feed bytes (with an idle gap after indices in ``gap_after``); collect frames and errors."""
    dut = FrameReceiver(CONFIG)
    gap_after = set(gap_after or ())
    events = []

    async def feeder(ctx):
        for index, value in enumerate(stream_of_bytes):
            ctx.set(dut.bytes.payload, value)
            ctx.set(dut.bytes.valid, 1)
            await ctx.tick()
            ctx.set(dut.bytes.valid, 0)
            await ctx.tick().repeat(CONFIG.idle_timeout_cycles + 50 if index in gap_after
                                    else BYTE_GAP)
        await ctx.tick().repeat(CONFIG.idle_timeout_cycles + 200)  # let the last reply out

    async def collector(ctx):
        ctx.set(dut.errors.ready, 1)
        while True:
            await ctx.tick()
            if ctx.get(dut.errors.valid):
                events.append(("error", ctx.get(dut.errors.payload)))
            if ctx.get(dut.frames.valid):
                header = ctx.get(dut.frames.payload)
                payload = []
                for address in range(header.length):
                    ctx.set(dut.read_address, address)
                    await ctx.tick()
                    payload.append(ctx.get(dut.read_data))
                events.append(("frame", header.type, bytes(payload)))
                ctx.set(dut.frames.ready, 1)
                await ctx.tick()
                ctx.set(dut.frames.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(collector, background=True)
    sim.run()
    return events


GOOD = encode_frame(FrameType.FEATURES, bytes(range(20)), config=CONFIG)
EMPTY = encode_frame(FrameType.END, b"", config=CONFIG)


@pytest.mark.collisions
def test_receiver_accepts_good_frames_and_skips_noise():
    # the gap after the first frame stands for the host waiting for its reply
    events = run_receiver(b"\x00\x13" + GOOD + EMPTY + b"\x77", gap_after={len(GOOD) + 1})
    assert events == [("frame", FrameType.FEATURES, bytes(range(20))),
                      ("frame", FrameType.END, b"")]


@pytest.mark.collisions
@pytest.mark.parametrize("position", [1, 2, 5, len(GOOD) - 1])
def test_corrupted_frame_is_refused_and_the_next_good_frame_decodes(position):
    corrupted = bytearray(GOOD)
    corrupted[position] ^= 0x10
    events = run_receiver(bytes(corrupted) + GOOD, gap_after={len(GOOD) - 1})
    kinds = [e[0] for e in events]
    assert "frame" in kinds and kinds.index("error") < kinds.index("frame")
    assert events[-1] == ("frame", FrameType.FEATURES, bytes(range(20)))
    assert all(e[0] == "error" for e in events[:-1])


@pytest.mark.collisions
def test_truncated_frame_gets_an_error_and_the_next_good_frame_decodes():
    events = run_receiver(GOOD[:9] + GOOD, gap_after={8})
    assert events == [("error", LinkError.TRUNCATED),
                      ("frame", FrameType.FEATURES, bytes(range(20)))]


@pytest.mark.collisions
def test_oversized_frame_gets_an_error_and_the_next_good_frame_decodes():
    oversized = encode_frame(FrameType.FEATURES, bytes(100))  # default config allows 1024
    events = run_receiver(oversized + GOOD, gap_after={len(oversized) - 1})
    assert events == [("error", LinkError.OVERSIZED),
                      ("frame", FrameType.FEATURES, bytes(range(20)))]


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x01\x02", bytes(range(64))])
def test_sender_output_decodes_on_the_host(payload):
    dut = FrameSender(CONFIG)
    out = []

    async def driver(ctx):
        ctx.set(dut.frames.payload, {"type": FrameType.WORDS, "length": len(payload)})
        ctx.set(dut.frames.valid, 1)
        await ctx.tick().until(dut.frames.ready)
        ctx.set(dut.frames.valid, 0)
        for value in payload:
            ctx.set(dut.payload.payload, value)
            ctx.set(dut.payload.valid, 1)
            await ctx.tick().until(dut.payload.ready)
        ctx.set(dut.payload.valid, 0)

    async def sink(ctx):
        rng = np.random.default_rng(len(payload))
        while len(out) < len(payload) + 6:
            ctx.set(dut.bytes.ready, bool(rng.random() < 0.6))
            _, _, valid, ready, value = await ctx.tick().sample(
                dut.bytes.valid, dut.bytes.ready, dut.bytes.payload)
            if valid and ready:
                out.append(value)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(sink)
    sim.run()
    assert bytes(out) == encode_frame(FrameType.WORDS, payload, config=CONFIG)
    assert FrameDecoder().feed(bytes(out))[0].payload == payload


def test_components_reject_other_configs():
    for component in (FrameReceiver, FrameSender, UARTReceiver, UARTTransmitter):
        with pytest.raises(TypeError, match=r"config must be a LinkConfig, not 3"):
            component(3)
    assert isinstance(FrameReceiver(CONFIG), wiring.Component)


# -- host side ------------------------------------------------------------------------------------

class ScriptedDevice:
    """A transport whose replies come from a function of each frame the host writes."""

    def __init__(self, respond):
        self.respond, self.pending, self.frames = respond, b"", []

    def write(self, data):
        self.frames.append(data)
        self.pending += self.respond(len(self.frames), data)

    def read(self, size):
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk


def ack(_count, _data):
    return encode_frame(FrameType.ACK, b"")


def test_host_retries_after_an_error_reply():
    def respond(count, data):
        if count == 1:
            return encode_frame(FrameType.ERROR, bytes([LinkError.BAD_CRC]))
        return ack(count, data)
    device = ScriptedDevice(respond)
    link = HostLink(device, timeout=0.05)
    assert link.request(FrameType.START).type == FrameType.ACK
    assert len(device.frames) == 2 and device.frames[0] == device.frames[1]
    assert link.errors_seen == [LinkError.BAD_CRC]


def test_host_ignores_a_corrupted_reply_and_retries():
    def respond(count, data):
        reply = bytearray(ack(count, data))
        if count == 1:
            reply[-1] ^= 1
        return bytes(reply)
    link = HostLink(ScriptedDevice(respond), timeout=0.05)
    assert link.request(FrameType.START).type == FrameType.ACK
    assert link.decoder.bad_frames == 1


def test_host_gives_up_after_retries():
    link = HostLink(ScriptedDevice(lambda c, d: b""), timeout=0.01, retries=2)
    with pytest.raises(LinkFailure, match=r"START frame failed after 3 attempts: no reply"):
        link.request(FrameType.START)


def test_host_refuses_a_status_flag():
    def respond(count, data):
        if data[1] == FrameType.END:
            return encode_frame(FrameType.WORDS, np.array([3, 1], "<u2").tobytes())
        return ack(count, data)
    link = HostLink(ScriptedDevice(respond), timeout=0.05)
    with pytest.raises(LinkFailure, match=r"device reports status 0x0001"):
        link.recognize(np.zeros((2, 4), dtype=np.int16))


def test_host_returns_words():
    def respond(count, data):
        if data[1] == FrameType.END:
            return encode_frame(FrameType.WORDS, np.array([3, 7, 0], "<u2").tobytes())
        return ack(count, data)
    assert HostLink(ScriptedDevice(respond)).recognize(np.zeros((3, 4), np.int16)) == [3, 7]


def test_sequence_numbers_advance():
    device = ScriptedDevice(ack)
    link = HostLink(device)
    link.request(FrameType.START)
    link.request(FrameType.START)
    assert [frame[4] for frame in device.frames] == [1, 2]


def test_encode_rejects_oversized_payload():
    with pytest.raises(ValueError, match=r"payload of 65 bytes exceeds max_payload=64"):
        encode_frame(FrameType.FEATURES, bytes(65), config=CONFIG)


def test_recognize_rejects_float_activations():
    with pytest.raises(ValueError, match=r"activations must be a 2-D integer array"):
        HostLink(ScriptedDevice(ack)).recognize(np.zeros((2, 2)))


def test_link_config_rejects_too_fast_baud():
    with pytest.raises(ConfigError, match=r"LinkConfig.baud 4000000 is too fast for clock_hz "
                                          r"12000000: the divisor 3 must be at least 4"):
        LinkConfig(baud=4_000_000)


def test_link_config_rejects_bad_payload_limit():
    with pytest.raises(ConfigError, match=r"LinkConfig.max_payload must be an int from 1 to "
                                          r"65535, not 0"):
        LinkConfig(max_payload=0)
