"""The whole recognizer's generated Verilog on Icarus and Verilator, bit-exact with the golden
system model: at the core's streams (random gaps and backpressure) and at the UART pins with
good, corrupted, truncated and oversized frames."""

import dataclasses
import struct

import numpy as np
import pytest

from hw.protocol import FrameType, LinkError
from sim.system import check_core, simulate_core, simulate_uart
from sim.system_cases import small_design, small_utterances
from sw.link import encode_frame, load_payloads
from sw.model_image import model_image
from sw.system import golden_recognize


def _assert_all_match(design, utterances, result):
    checks = check_core(design, utterances, result)
    mismatches = [check for check in checks if not check.matches]
    assert not mismatches, mismatches[:3]
    assert any(check.golden_words for check in checks), "no utterance produced words"


@pytest.mark.parametrize("simulator, design_seed, count, batch, context, row_order, index_bits", [
    ("icarus", 0, 8, 1, 0, "interleaved", 2), ("verilator", 1, 40, 1, 0, "interleaved", 2),
    ("icarus", 0, 8, 3, 0, "interleaved", 2), ("verilator", 1, 20, 4, 0, "interleaved", 2),
    ("verilator", 2, 20, 4, 1, "interleaved", 2), ("verilator", 3, 20, 4, 1, "balanced", 8)])
def test_core_equals_golden(simulator, design_seed, count, batch, context, row_order,
                            index_bits):
    """Words and status bit-exact with golden, one frame at a time and in batches (frames
    gathered into lanes, the last batch short, scores split back into frames), with the host
    splicing the context or the core, and with the hidden units in the balanced order and
    8-bit row indices (the iCEBreaker's width)."""
    design = small_design(design_seed, batch=batch, splice_context=context,
                          row_order=row_order, index_bits=index_bits)
    utterances = small_utterances(design, count, seed=11 + design_seed)
    result = simulate_core(design, utterances, simulator=simulator, seed=1 + design_seed,
                           gap_probability=0.2, backpressure=0.3)
    _assert_all_match(design, utterances, result)


class Host:
    """Frames as ``sw.link.HostLink`` sends them: a sequence number first in every payload."""

    def __init__(self, design):
        self.design, self.config = design, design.config.link
        self.sequence = 0

    def frame(self, frame_type, body=b"", *, sequence=None):
        if sequence is None:
            self.sequence = (self.sequence + 1) & 0xFF
            sequence = self.sequence
        return encode_frame(frame_type, bytes([sequence]) + body, config=self.config)

    def load(self, design):
        """LOAD frames that write ``design``'s model into a recognizer of its layout."""
        return [self.frame(FrameType.LOAD, body)
                for body in load_payloads(design.model.load_records(), design.load_format,
                                          max_payload=self.config.max_payload)]

    def utterance(self, activations):
        frames = [self.frame(FrameType.START)]
        frames += [self.frame(FrameType.FEATURES, frame.astype("<i2").tobytes())
                   for frame in self.design.host_frames(activations)]
        return frames + [self.frame(FrameType.END)]


def _words(reply):
    frame_type, payload = reply
    assert frame_type == FrameType.WORDS
    values = list(struct.unpack(f"<{len(payload) // 2}H", payload))
    return values[:-1], values[-1]


@pytest.mark.collisions
@pytest.mark.parametrize("simulator, batch, context", [("verilator", 1, 0), ("verilator", 3, 1)])
def test_uart_frames_in_words_out_and_damaged_frames_get_errors(simulator, batch, context):
    """Errors for damaged frames, the next good ones still decode; in the second case the
    FEATURES frames carry one frame each (8 values) and the core splices."""
    design = small_design(0, batch=batch, splice_context=context)
    utterances = [u for u in small_utterances(design, 12, seed=3) if len(u.activations)][:2]
    host = Host(design)
    first, second = (host.utterance(u.activations) for u in utterances)
    good_features = first[1]
    corrupted = bytearray(good_features)
    corrupted[10] ^= 0x40  # a payload byte: the CRC no longer matches
    truncated = good_features[:20]  # the line goes idle mid-frame
    oversized = encode_frame(FrameType.FEATURES, bytes(design.config.link.max_payload + 1),
                             config=None)
    frames = (first[:2] + [bytes(corrupted), truncated, oversized] + first[2:]
              + [first[-1]]  # END again, same sequence number: the reply is repeated
              + second)
    replies = simulate_uart(design, frames, simulator=simulator)
    assert len(replies) == len(frames)
    assert [r[0] for r in replies[:2]] == [FrameType.ACK, FrameType.ACK]
    errors = [(t, p[0]) for t, p in replies[2:5]]
    assert errors == [(FrameType.ERROR, LinkError.BAD_CRC), (FrameType.ERROR, LinkError.TRUNCATED),
                      (FrameType.ERROR, LinkError.OVERSIZED)]
    position = 5 + len(first) - 2
    assert all(t == FrameType.ACK for t, _ in replies[5:position - 1])
    for utterance, reply in ((utterances[0], replies[position - 1]),
                             (utterances[0], replies[position]),
                             (utterances[1], replies[-1])):
        golden = golden_recognize(design, utterance.activations)
        assert _words(reply) == (golden.words, golden.status)
    assert np.all([t == FrameType.ACK for t, _ in replies[position + 1:-1]])


def _other_model(design):
    """``design`` with another model of the same layout: every layer's codebook values and
    biases in reverse order (code 0 stays 0), so the same memory words hold other weights."""
    layers = tuple(dataclasses.replace(
        layer, codebook=np.concatenate([layer.codebook[:1], layer.codebook[:0:-1]]),
        bias=layer.bias[::-1].copy()) for layer in design.quantized.layers)
    quantized = dataclasses.replace(design.quantized, layers=layers)
    return dataclasses.replace(design, quantized=quantized, model=model_image(layers))


@pytest.mark.parametrize("simulator, entry_memory", [("icarus", "block"), ("icarus", "spram"),
                                                     ("verilator", "spram")])
def test_a_model_loaded_over_the_link_decodes_like_golden_and_can_be_replaced(simulator,
                                                                               entry_memory):
    built = small_design(0)
    # a recognizer whose memories start empty: everything it knows comes over the UART (with
    # "spram" as on the iCEBreaker: the entries and the column pointers in SB_SPRAM256KA
    # blocks, simulated by yosys' model of them, and the codebook in the PE's block RAM)
    config = built.config
    spmv = config.spmv.replace(
        entry_memory=entry_memory, pointer_memory=entry_memory,
        codebook_memory="block" if entry_memory == "spram" else "registers")
    blank = dataclasses.replace(built, config=dataclasses.replace(
        config, preload_model=False, spmv=spmv))
    other = _other_model(built)
    spoken = [u for u in small_utterances(built, 12, seed=5) if len(u.activations)]
    utterances = [spoken[1], spoken[3]]  # 12 frames each, with words
    golden = [golden_recognize(built, u.activations) for u in utterances]
    assert all(g.words for g in golden)
    golden_other = golden_recognize(other, utterances[0].activations)
    assert (golden_other.words, golden_other.status) != (golden[0].words, golden[0].status)
    host = Host(blank)
    first_load = host.load(built)
    frames = first_load + host.utterance(utterances[0].activations)
    frames += host.utterance(utterances[1].activations)
    second_load = host.load(other)
    frames += second_load + host.utterance(utterances[0].activations)
    replies = simulate_uart(blank, frames, simulator=simulator)
    assert len(replies) == len(frames)
    kinds = [t for t, _ in replies]
    ends = [i for i, t in enumerate(kinds) if t == FrameType.WORDS]
    assert len(ends) == 3
    assert all(t == FrameType.ACK for i, t in enumerate(kinds) if i not in ends)
    answers = [_words(replies[i]) for i in ends]
    assert answers == [(golden[0].words, golden[0].status), (golden[1].words, golden[1].status),
                       (golden_other.words, golden_other.status)]
