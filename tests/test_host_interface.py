# amaranth: UnusedElaboratable=no
"""Device protocol controller over real UART bits, with a stand-in recognizer core."""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.config import LinkConfig
from hw.host_interface import HostInterface
from hw.protocol import FrameType, LinkError, LoadFormat, ModelMemory
from sw.link import FrameDecoder, encode_frame, load_payloads

CONFIG = LinkConfig(clock_hz=1_000_000, baud=250_000, max_payload=32, idle_timeout_bytes=2,
                    max_words=4)
DIMS = 3
# 5-byte records: memory, PE, 1 address byte, 2 data bytes; 6 of them fit max_payload 32
LOAD_FORMAT = LoadFormat(pes=2, depths=(5, 10, 32, 8), address_bytes=1, data_bytes=2)


def build(load_format=None):
    """HostInterface plus a core that answers END with [frames, sum of values, status 0]."""
    m = Module()
    m.submodules.host = host = HostInterface(CONFIG, feature_dims=DIMS, load_format=load_format)
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


def exchange(messages, *, load_format=None, loads=None):
    """Send each byte string over rx, waiting for its reply like the host; return replies.
    With ``load_format`` the host interface takes LOAD frames; the records it streams out
    (always ready) are appended to ``loads``."""
    m, host = build(load_format)
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

    async def load_sink(ctx):
        ctx.set(host.load.ready, 1)
        record = host.load.payload
        async for _clk, _rst, valid, *fields in ctx.tick().sample(
                host.load.valid, record.memory, record.pe, record.address, record.data):
            if valid:
                loads.append(tuple(fields))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(host_side)
    sim.add_testbench(listener, background=True)
    if load_format is not None:
        sim.add_testbench(load_sink, background=True)
    sim.run()
    return replies


def features(sequence, values):
    return encode_frame(FrameType.FEATURES,
                        bytes([sequence]) + np.asarray(values, "<i2").tobytes(), config=CONFIG)


def control(frame_type, sequence):
    return encode_frame(frame_type, bytes([sequence]), config=CONFIG)


@pytest.mark.collisions
def test_utterance_round_trip():
    replies = exchange([control(FrameType.START, 1), features(2, [1, 2, 3]),
                        features(3, [10, -20, 30]), control(FrameType.END, 4)])
    assert [r.type for r in replies] == [FrameType.ACK] * 3 + [FrameType.WORDS]
    words = np.frombuffer(replies[-1].payload, "<u2").tolist()
    assert words == [6, 26, 0]  # 6 values received, their sum, status ok


@pytest.mark.collisions
def test_repeated_sequence_number_is_answered_but_not_acted_on():
    replies = exchange([control(FrameType.START, 1), features(2, [1, 1, 1]),
                        features(2, [1, 1, 1]), control(FrameType.END, 3),
                        control(FrameType.END, 3)])
    assert [r.type for r in replies] == [FrameType.ACK] * 3 + [FrameType.WORDS] * 2
    assert np.frombuffer(replies[-2].payload, "<u2").tolist() == [3, 3, 0]
    assert replies[-1] == replies[-2]


@pytest.mark.collisions
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


def load(sequence, records, load_format=LOAD_FORMAT):
    body = b"".join(load_format.encode(*record) for record in records)
    return encode_frame(FrameType.LOAD, bytes([sequence]) + body, config=CONFIG)


GOOD_RECORDS = [(ModelMemory.ENTRY, 1, 9, 0x1234), (ModelMemory.BIAS, 0, 7, -2),
                (ModelMemory.POINTER, 0, 4, 3), (ModelMemory.CODEBOOK, 0, 31, -128),
                (ModelMemory.POINTER, 1, 0, 0), (ModelMemory.ENTRY, 0, 0, 0xFFFF)]


@pytest.mark.collisions
def test_load_records_stream_out_in_order_and_a_retry_writes_nothing_more():
    loads = []
    replies = exchange([load(1, GOOD_RECORDS[:4]), load(2, GOOD_RECORDS[4:]),
                        load(2, GOOD_RECORDS[4:])], load_format=LOAD_FORMAT, loads=loads)
    assert [(r.type, r.payload) for r in replies] == [(FrameType.ACK, b"")] * 3
    # data as two's complement in the 2 data bytes
    assert loads == [(m, pe, a, v & 0xFFFF) for m, pe, a, v in GOOD_RECORDS]


@pytest.mark.parametrize("bad", [(ModelMemory.ENTRY, 2, 0, 1),  # no PE 2
                                 (ModelMemory.BIAS, 0, 8, 1),  # BIAS holds 8 words
                                 (ModelMemory.POINTER, 1, 5, 1)])  # 5 pointers: 0..4
def test_a_load_with_one_bad_record_writes_nothing(bad):
    raw = LoadFormat(pes=4, depths=(255,) * 4, address_bytes=1, data_bytes=2)  # encodes any
    loads = []
    replies = exchange([load(1, [GOOD_RECORDS[0], bad], load_format=raw),
                        load(2, GOOD_RECORDS[:1])], load_format=LOAD_FORMAT, loads=loads)
    assert [(r.type, r.payload) for r in replies] == [
        (FrameType.ERROR, bytes([LinkError.BAD_RECORD])), (FrameType.ACK, b"")]
    assert loads == [(m, pe, a, v & 0xFFFF) for m, pe, a, v in GOOD_RECORDS[:1]]


def test_a_load_naming_no_memory_writes_nothing():
    body = bytes([4, 0, 0, 1, 0])  # memory 4 does not exist
    loads = []
    replies = exchange([encode_frame(FrameType.LOAD, bytes([1]) + body, config=CONFIG)],
                       load_format=LOAD_FORMAT, loads=loads)
    assert [(r.type, r.payload) for r in replies] == [
        (FrameType.ERROR, bytes([LinkError.BAD_RECORD]))]
    assert loads == []


def test_a_load_cut_short_or_empty_is_refused_unwritten():
    whole = load(1, GOOD_RECORDS[:2])
    body = whole[4:-2]  # sequence byte and two records
    cut = encode_frame(FrameType.LOAD, body[:-1], config=CONFIG)
    empty = encode_frame(FrameType.LOAD, bytes([2]), config=CONFIG)
    loads = []
    replies = exchange([cut, empty], load_format=LOAD_FORMAT, loads=loads)
    assert [(r.type, r.payload) for r in replies] == [
        (FrameType.ERROR, bytes([LinkError.BAD_LENGTH]))] * 2
    assert loads == []


@pytest.mark.collisions
def test_a_load_during_an_utterance_is_busy_and_after_it_is_taken():
    loads = []
    replies = exchange([control(FrameType.START, 1), load(2, GOOD_RECORDS[:1]),
                        control(FrameType.END, 3), load(4, GOOD_RECORDS[:1])],
                       load_format=LOAD_FORMAT, loads=loads)
    assert [(r.type, r.payload[:1]) for r in replies] == [
        (FrameType.ACK, b""), (FrameType.ERROR, bytes([LinkError.BUSY])),
        (FrameType.WORDS, bytes([0])), (FrameType.ACK, b"")]
    assert len(loads) == 1


def test_load_is_an_unknown_type_without_a_load_format():
    replies = exchange([load(1, GOOD_RECORDS[:1])])
    assert [(r.type, r.payload) for r in replies] == [
        (FrameType.ERROR, bytes([LinkError.UNKNOWN_TYPE]))]


def test_load_payloads_fill_frames_and_refuse_a_bad_record_before_sending():
    payloads = load_payloads(GOOD_RECORDS * 2, LOAD_FORMAT, max_payload=CONFIG.max_payload)
    assert [len(p) for p in payloads] == [30, 30]  # 6 records of 5 bytes per frame
    with pytest.raises(ValueError, match=r"BIAS address must be 0..7, not 8"):
        load_payloads([(ModelMemory.BIAS, 0, 8, 0)], LOAD_FORMAT, max_payload=32)
    with pytest.raises(ValueError, match=r"pe must be 0..1, not 2"):
        load_payloads([(ModelMemory.ENTRY, 2, 0, 0)], LOAD_FORMAT, max_payload=32)
    with pytest.raises(ValueError, match=r"value 65536 does not fit 2 data bytes"):
        load_payloads([(ModelMemory.ENTRY, 0, 0, 1 << 16)], LOAD_FORMAT, max_payload=32)
    with pytest.raises(ValueError, match=r"holds no LOAD record"):
        load_payloads(GOOD_RECORDS, LOAD_FORMAT, max_payload=5)
