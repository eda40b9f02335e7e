"""The whole recognizer's generated Verilog on Icarus and Verilator, bit-exact with the golden
system model: at the core's streams (random gaps and backpressure) and at the UART pins with
good, corrupted, truncated and oversized frames."""

import struct

import numpy as np
import pytest

from hw.protocol import FrameType, LinkError
from sim.system import check_core, simulate_core, simulate_uart
from sim.system_cases import small_design, small_utterances
from sw.link import encode_frame
from sw.system import golden_recognize


def _assert_all_match(design, utterances, result):
    checks = check_core(design, utterances, result)
    mismatches = [check for check in checks if not check.matches]
    assert not mismatches, mismatches[:3]
    assert any(check.golden_words for check in checks), "no utterance produced words"


@pytest.mark.parametrize("simulator, design_seed, count", [("icarus", 0, 8),
                                                            ("verilator", 1, 40)])
def test_core_equals_golden(simulator, design_seed, count):
    design = small_design(design_seed)
    utterances = small_utterances(design, count, seed=11 + design_seed)
    result = simulate_core(design, utterances, simulator=simulator, seed=1 + design_seed,
                           gap_probability=0.2, backpressure=0.3)
    _assert_all_match(design, utterances, result)


class Host:
    """Frames as ``sw.link.HostLink`` sends them: a sequence number first in every payload."""

    def __init__(self, design):
        self.config = design.config.link
        self.sequence = 0

    def frame(self, frame_type, body=b"", *, sequence=None):
        if sequence is None:
            self.sequence = (self.sequence + 1) & 0xFF
            sequence = self.sequence
        return encode_frame(frame_type, bytes([sequence]) + body, config=self.config)

    def utterance(self, activations):
        frames = [self.frame(FrameType.START)]
        frames += [self.frame(FrameType.FEATURES, frame.astype("<i2").tobytes())
                   for frame in activations]
        return frames + [self.frame(FrameType.END)]


def _words(reply):
    frame_type, payload = reply
    assert frame_type == FrameType.WORDS
    values = list(struct.unpack(f"<{len(payload) // 2}H", payload))
    return values[:-1], values[-1]


@pytest.mark.parametrize("simulator", ["verilator"])
def test_uart_frames_in_words_out_and_damaged_frames_get_errors(simulator):
    design = small_design(0)
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
