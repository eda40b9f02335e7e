"""Cost unit: one frame of last-layer outputs in, one frame of Viterbi acoustic costs out.

Bit-exact with ``sw/golden/cost.py``: the frame is buffered while its maximum is tracked, then
each score leaves as ``min(((max - y) * scale) >> shift, 2**cost_width - 1)``.
"""

from amaranth import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.config import CostConfig, SpMVConfig

__all__ = ["CostUnit"]


class CostUnit(wiring.Component):
    """Turns ``count`` scores per frame into costs; ``scale`` is the acoustic scale.

    Parameters
    ----------
    activations : SpMVConfig
        Format of the scores (``act_width``, ``act_frac``): the engine's outputs.
    config : CostConfig
        Format of the costs and of the scale, and the largest frame.
    """

    def __init__(self, activations: SpMVConfig, config: CostConfig):
        if not isinstance(activations, SpMVConfig):
            raise TypeError(f"activations must be an SpMVConfig, not {activations!r}")
        if not isinstance(config, CostConfig):
            raise TypeError(f"config must be a CostConfig, not {config!r}")
        self.activations = activations
        self.config = config
        self.shift = config.shift(activations.act_frac)
        super().__init__({
            "scores": In(stream.Signature(signed(activations.act_width))),
            "costs": Out(stream.Signature(config.cost_width)),
            "count": In(range(1, config.max_outputs + 1)),
            "scale": In(config.scale_width),
        })

    def elaborate(self, platform):
        m = Module()
        config, width = self.config, self.activations.act_width
        # in block RAM even when the frame is small: in flip-flops a 198-pdf frame would take
        # 3,168 of them (yosys keeps small memories in logic), in block RAM one iCE40 EBR
        m.submodules.frame = frame = Memory(shape=signed(width), depth=config.max_outputs,
                                            init=[], attrs={"ram_style": "block"})
        write = frame.write_port()
        read = frame.read_port()

        index = Signal(range(config.max_outputs + 1))
        best = Signal(signed(width))
        cost = Signal(config.cost_width)
        ceiling = (1 << config.cost_width) - 1
        difference = Signal(width + 1)  # max - y >= 0, up to 2**width - 1
        product = Signal(width + 1 + config.scale_width)
        # A score is registered as it arrives and stored and compared with the maximum the
        # cycle after: the engine's output multiplexer and handshake then end in flip-flops,
        # not in the comparator and the maximum's enable (the iCE40's worst path).
        taken = Signal()
        taken_first = Signal()
        taken_score = Signal(signed(width))
        taken_index = Signal.like(index)
        m.d.sync += [taken.eq(0), taken_score.eq(self.scores.payload), taken_index.eq(index),
                     taken_first.eq(index == 0)]
        m.d.comb += [write.addr.eq(taken_index), write.data.eq(taken_score), write.en.eq(taken),
                     read.addr.eq(index), self.costs.payload.eq(cost)]
        with m.If(taken & (taken_first | (taken_score > best))):
            m.d.sync += best.eq(taken_score)

        with m.FSM():
            with m.State("COLLECT"):
                m.d.comb += self.scores.ready.eq(1)
                with m.If(self.scores.valid):
                    m.d.sync += taken.eq(1)
                    with m.If(index + 1 == self.count):
                        m.d.sync += index.eq(0)
                        m.next = "STORE"
                    with m.Else():
                        m.d.sync += index.eq(index + 1)
            with m.State("STORE"):  # the frame's last score is written and compared
                m.next = "READ"
            with m.State("READ"):  # the score at `index` is read during this cycle
                m.next = "CONVERT"
            # The subtraction and the multiplier are in different cycles: after block RAM
            # clock-to-out, a carry chain and a multiplier in series were ULX3S's worst path.
            with m.State("CONVERT"):
                m.d.sync += difference.eq(best - read.data)
                m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [product.eq((difference * self.scale) >> self.shift),
                             self.costs.valid.eq(1)]
                with m.If(product > ceiling):
                    m.d.comb += cost.eq(ceiling)
                with m.Else():
                    m.d.comb += cost.eq(product)
                with m.If(self.costs.ready):
                    with m.If(index + 1 == self.count):
                        m.d.sync += index.eq(0)
                        m.next = "COLLECT"
                    with m.Else():
                        m.d.sync += index.eq(index + 1)
                        m.next = "READ"
        return m
