# amaranth: UnusedElaboratable=no
"""Device protocol controller over real UART bits, with a stand-in recognizer core."""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.config import LinkConfig
from hw.host_interface import HostInterface
from hw.protocol import FrameType, LinkError
from sw.link import FrameDecoder, encode_frame

CONFIG = LinkConfig(clock_hz=1_000_000, baud=250_000, max_payload=32, idle_timeout_bytes=2,
                    max_words=4)
DIMS = 3


def build():
    """HostInterface plus a core that answers END with [frames, sum of values, status 0]."""
    m = Module()
    m.submodules.host = host = HostInterface(CONFIG, feature_dims=DIMS)
    count = Signal(16)
    total = Signal(16)
    emitting = Signal(range(4))
    m.d.comb += host.features.ready.eq(1)
    with m.If(host.start):
        m.d.sync += [count.eq(0), total.eq(0)]
    with m.If(host.features.valid):
        m.d.sync += [count.eq(count + 1), total.eq(total + host.features.payload)]
    with m.If(host.finish):
        m.d.sync += emitting.eq(1)
    with m.If(emitting != 0):
        m.d.comb += host.words.valid.eq(1)
        with m.Switch(emitting):
            with m.Case(1):
                m.d.comb += host.words.payload.word.eq(count)
            with m.Case(2):
                m.d.comb += host.words.payload.word.eq(total)
            with m.Case(3):
                m.d.comb += host.words.payload.last.eq(1)
        with m.If(host.words.ready):
            m.d.sync += emitting.eq(emitting + 1)  # wraps from 3 to 0
    return m, host


def exchange(messages):
    """Send each byte string over rx, waiting for its reply like the host; return replies."""
    m, host = build()
    bit = CONFIG.divisor
    replies = []
    decoder = FrameDecoder()

    async def host_side(ctx):
        ctx.set(host.rx, 1)
        await ctx.tick().repeat(20)
        for message in messages:
            for byte in message:
                for level in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                    ctx.set(host.rx, level)
                    await ctx.tick().repeat(bit)
            expected = len(replies) + 1
            for _ in range(100 * bit * 10):  # a generous reply timeout: 100 byte times
                if len(replies) == expected:
                    break
                await ctx.tick()
            else:
                raise AssertionError(f"no reply to message {message.hex()}")

    async def listener(ctx):
        # plain ticks only: the simulation may end at any point of this endless loop
        wait = 0
        value = bit_index = None
        async for _clk, _rst, tx in ctx.tick().sample(host.tx):
            if bit_index is None:
                if not tx:
                    bit_index, wait, value = 0, bit + bit // 2, 0
                continue
            wait -= 1
            if wait:
                continue
            if bit_index < 8:
                value |= tx << bit_index
                bit_index, wait = bit_index + 1, bit
            else:  # middle of the stop bit
                replies.extend(decoder.feed(bytes([value])))
                bit_index = None

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(host_side)
    sim.add_testbench(listener, background=True)
    sim.run()
    return replies


def features(sequence, values):
    return encode_frame(FrameType.FEATURES,
                        bytes([sequence]) + np.asarray(values, "<i2").tobytes(), config=CONFIG)


def control(frame_type, sequence):
    return encode_frame(frame_type, bytes([sequence]), config=CONFIG)


def test_utterance_round_trip():
    replies = exchange([control(FrameType.START, 1), features(2, [1, 2, 3]),
                        features(3, [10, -20, 30]), control(FrameType.END, 4)])
    assert [r.type for r in replies] == [FrameType.ACK] * 3 + [FrameType.WORDS]
    words = np.frombuffer(replies[-1].payload, "<u2").tolist()
    assert words == [6, 26, 0]  # 6 values received, their sum, status ok


def test_repeated_sequence_number_is_answered_but_not_acted_on():
    replies = exchange([control(FrameType.START, 1), features(2, [1, 1, 1]),
                        features(2, [1, 1, 1]), control(FrameType.END, 3),
                        control(FrameType.END, 3)])
    assert [r.type for r in replies] == [FrameType.ACK] * 3 + [FrameType.WORDS] * 2
    assert np.frombuffer(replies[-2].payload, "<u2").tolist() == [3, 3, 0]
    assert replies[-1] == replies[-2]


@pytest.mark.parametrize("damage, code", [
    (lambda f: f[:-1] + bytes([f[-1] ^ 0x40]), LinkError.BAD_CRC),
    (lambda f: f[:6], LinkError.TRUNCATED),
])
def test_damaged_frame_gets_an_error_and_the_retry_counts_once(damage, code):
    good = features(2, [5, 5, 5])
    replies = exchange([control(FrameType.START, 1), damage(good), good,
                        control(FrameType.END, 3)])
    assert [r.type for r in replies] == [FrameType.ACK, FrameType.ERROR, FrameType.ACK,
                                         FrameType.WORDS]
    assert replies[1].payload == bytes([code])
    assert np.frombuffer(replies[-1].payload, "<u2").tolist() == [3, 15, 0]


def test_wrong_length_and_unknown_type_are_refused():
    short = encode_frame(FrameType.FEATURES, bytes([2, 0, 0]), config=CONFIG)
    replies = exchange([short, control(0x55, 3), encode_frame(FrameType.START, b"")])
    assert [(r.type, r.payload) for r in replies] == [
        (FrameType.ERROR, bytes([LinkError.BAD_LENGTH])),
        (FrameType.ERROR, bytes([LinkError.UNKNOWN_TYPE])),
        (FrameType.ERROR, bytes([LinkError.BAD_LENGTH]))]


def test_oversized_frame_is_refused():
    oversized = encode_frame(FrameType.FEATURES, bytes(40))  # CONFIG allows 32
    replies = exchange([oversized, control(FrameType.START, 1)])
    assert [(r.type, r.payload) for r in replies] == [
        (FrameType.ERROR, bytes([LinkError.OVERSIZED])), (FrameType.ACK, b"")]


def test_rejects_feature_dims_beyond_payload():
    with pytest.raises(ValueError, match=r"feature_dims must be an int from 1 to 15 "
                                         r"\(max_payload 32\), not 16"):
        HostInterface(CONFIG, feature_dims=16)
