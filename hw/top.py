"""The recognizer a board runs: UART pins in and out, the host protocol, the recognizer core.

``rx`` / ``tx`` carry the framed protocol of ``hw/protocol.py`` (``sw/link.py`` is the host
side): START, one FEATURES frame per frame (its first-layer activations, or, when the core
splices the context, the frame alone: ``SystemConfig.splice_context``), END -> WORDS; between
utterances, LOAD frames write the model. No board specifics here: ``boards/`` connects the
pins and the clock.
"""

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.config import SystemConfig
from hw.host_interface import HostInterface
from hw.protocol import LoadFormat
from hw.recognizer import COUNTER_BITS, Recognizer

__all__ = ["SystemTop"]


class SystemTop(wiring.Component):
    """Host interface + recognizer core.

    Parameters
    ----------
    config : SystemConfig
        The whole configuration (link clock and baud included).
    model, graph, scale
        As for :class:`hw.recognizer.Recognizer`.
    """

    def __init__(self, config: SystemConfig, *, model, graph, scale: int):
        if not isinstance(config, SystemConfig):
            raise TypeError(f"config must be a SystemConfig, not {config!r}")
        self.config = config
        self.core = Recognizer(config, model=model, graph=graph, scale=scale)
        self.host = HostInterface(
            config.link, feature_dims=config.host_frame_values(model.slots[0].cols),
            load_format=(LoadFormat.for_recognizer(config.spmv, len(model.slots))
                         if config.model_load else None))
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "busy": Out(1),
            "frames": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.host = host = self.host
        m.submodules.core = core = self.core
        # The features wait in a register between the two: the core's ready (which layer
        # runs, whether the engine has room) otherwise ran on into the host's value index,
        # the iCEBreaker's worst path (33 ns). Taking a value only into an empty register
        # halves the rate, which the UART, a value per 20 bit times, never notices.
        held = Signal.like(host.features.payload)
        held_valid = Signal()
        m.d.comb += [host.features.ready.eq(~held_valid),
                     core.features.payload.eq(held), core.features.valid.eq(held_valid)]
        with m.If(host.features.valid & ~held_valid):
            m.d.sync += [held.eq(host.features.payload), held_valid.eq(1)]
        with m.Elif(core.features.ready | host.start):  # a new utterance drops an old value
            m.d.sync += held_valid.eq(0)
        wiring.connect(m, core.words, host.words)
        m.d.comb += [host.rx.eq(self.rx), self.tx.eq(host.tx),
                     self.busy.eq(core.busy), self.frames.eq(core.frames)]
        # The pulses are registered: decoded from the host's frame, they would otherwise reach
        # the Viterbi unit's table reset in the same cycle. A cycle later is harmless, as the
        # next frame takes thousands of cycles to arrive over the UART.
        m.d.sync += [core.start.eq(host.start), core.finish.eq(host.finish)]
        if self.config.model_load:
            # the host checked every record's address against the memory's depth, so cutting
            # the fields to the core's widths loses nothing; data is cut to the memory's width
            # The record waits in a register, as the features do: the core's ready (which
            # memory the record is for) otherwise ran on into the host's index, the iCEBreaker's
            # worst path (35.8 ns). LOAD comes between utterances, when the core takes a record
            # the cycle after it is held, long before the host's ACK has crossed the UART.
            record = Signal.like(host.load.payload)
            record_valid = Signal()
            m.d.comb += [core.load.payload.target.eq(record.memory),
                         core.load.payload.pe.eq(record.pe),
                         core.load.payload.address.eq(record.address),
                         core.load.payload.data.eq(record.data),
                         core.load.valid.eq(record_valid),
                         host.load.ready.eq(~record_valid)]
            with m.If(host.load.valid & ~record_valid):
                m.d.sync += [record.eq(host.load.payload), record_valid.eq(1)]
            with m.Elif(core.load.ready):
                m.d.sync += record_valid.eq(0)
        return m
