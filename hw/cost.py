"""Cost unit: one frame of last-layer outputs in, one frame of Viterbi acoustic costs out.

Bit-exact with ``sw/golden/cost.py``: the frame is buffered while its maximum is tracked, then
each score leaves as ``min(((max - y) * scale) >> shift, 2**cost_width - 1)``, one per cycle
while the sink takes them. With two banks the next frame is collected while this one leaves.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import CostConfig, SpMVConfig
from hw.memory import CollisionFreeMemory

__all__ = ["CostUnit"]


class CostUnit(wiring.Component):
    """Turns ``count`` scores per frame into costs; ``scale`` is the acoustic scale.

    Parameters
    ----------
    activations : SpMVConfig
        Format of the scores (``act_width``, ``act_frac``): the engine's outputs.
    config : CostConfig
        Format of the costs and of the scale, and the largest frame.
    banks : int
        Frames the buffer holds: 1 (a frame is converted before the next is taken) or 2 (the
        next frame is collected while this one is converted: a batched engine gives frames
        back to back; twice the memory).
    """

    def __init__(self, activations: SpMVConfig, config: CostConfig, *, banks: int = 1):
        if not isinstance(activations, SpMVConfig):
            raise TypeError(f"activations must be an SpMVConfig, not {activations!r}")
        if not isinstance(config, CostConfig):
            raise TypeError(f"config must be a CostConfig, not {config!r}")
        if banks not in (1, 2):
            raise ValueError(f"banks must be 1 or 2, not {banks!r}")
        self.activations = activations
        self.config = config
        self.banks = banks
        self.shift = config.shift(activations.act_frac)
        super().__init__({
            "scores": In(stream.Signature(signed(activations.act_width))),
            "costs": Out(stream.Signature(config.cost_width)),
            "count": In(range(1, config.max_outputs + 1)),
            "scale": In(config.scale_width),
        })

    def elaborate(self, platform):
        m = Module()
        config, width, size = self.config, self.activations.act_width, self.config.max_outputs
        # in block RAM even when the frame is small: in flip-flops a 198-pdf frame would take
        # 3,168 of them (yosys keeps small memories in logic), in block RAM one iCE40 EBR
        m.submodules.frame = frame = CollisionFreeMemory(
            shape=signed(width), depth=self.banks * size, init=[], attrs={"ram_style": "block"})
        write = frame.write_port()
        read = frame.read_port()

        # ---- collection: the frame's scores into a bank, its maximum tracked --------------
        # A score is registered as it arrives and stored and compared with the maximum the
        # cycle after: the engine's output multiplexer and handshake then end in flip-flops,
        # not in the comparator and the maximum's enable (the iCE40's worst path).
        collect_bank = Signal()
        index = Signal(range(size))
        best = Signal(signed(width))
        taken = Signal()
        taken_first = Signal()
        taken_score = Signal(signed(width))
        taken_address = Signal(range(self.banks * size))
        m.d.sync += [taken.eq(0), taken_score.eq(self.scores.payload),
                     taken_address.eq(Mux(collect_bank, size, 0) + index),
                     taken_first.eq(index == 0)]
        m.d.comb += [write.addr.eq(taken_address), write.data.eq(taken_score),
                     write.en.eq(taken)]
        with m.If(taken & (taken_first | (taken_score > best))):
            m.d.sync += best.eq(taken_score)

        # ---- conversion: one score per cycle through read, difference and product --------
        # The stages advance together unless the product waits for the sink (``stall``):
        # flip-flops with an enable, and no output FIFO, which the iCE40's logic cannot spare.
        converting = Signal()  # reads of the handed-over frame remain to be issued
        convert_bank = Signal()
        convert_best = Signal(signed(width))
        convert_index = Signal(range(size))
        read_valid, difference_valid, product_valid = Signal(), Signal(), Signal()
        stall = Signal()
        issue = Signal()
        m.d.comb += [stall.eq(product_valid & ~self.costs.ready),
                     issue.eq(converting & ~stall),
                     read.en.eq(~stall),
                     read.addr.eq(Mux(convert_bank, size, 0) + convert_index)]
        with m.If(issue):
            with m.If(convert_index + 1 == self.count):
                m.d.sync += [converting.eq(0), convert_index.eq(0)]
            with m.Else():
                m.d.sync += convert_index.eq(convert_index + 1)
        # The subtraction and the multiplier are in different cycles: after block RAM
        # clock-to-out, a carry chain and a multiplier in series were ULX3S's worst path.
        difference = Signal(width + 1)  # max - y >= 0, up to 2**width - 1
        product = Signal(width + 1 + config.scale_width)
        with m.If(~stall):
            m.d.sync += [read_valid.eq(issue), difference_valid.eq(read_valid),
                         product_valid.eq(difference_valid),
                         difference.eq(convert_best - read.data),
                         product.eq((difference * self.scale) >> self.shift)]
        ceiling = (1 << config.cost_width) - 1
        m.d.comb += [self.costs.payload.eq(Mux(product > ceiling, ceiling, product)),
                     self.costs.valid.eq(product_valid)]

        # ---- hand-over: a collected frame goes to the conversion when its reads are done --
        with m.FSM():
            with m.State("COLLECT"):
                # one bank: the frame is converted before the next may overwrite it
                m.d.comb += self.scores.ready.eq(1 if self.banks == 2 else ~converting)
                with m.If(self.scores.valid & self.scores.ready):
                    m.d.sync += taken.eq(1)
                    with m.If(index + 1 == self.count):
                        m.d.sync += index.eq(0)
                        m.next = "HAND_OVER"
                    with m.Else():
                        m.d.sync += index.eq(index + 1)
            # the frame's last score is written and compared in the first cycle here; the
            # maximum changes once the previous frame's last score has left the read stage
            with m.State("HAND_OVER"):
                with m.If(~taken & ~converting & ~read_valid):
                    m.d.sync += [converting.eq(1), convert_bank.eq(collect_bank),
                                 convert_best.eq(best)]
                    if self.banks == 2:
                        m.d.sync += collect_bank.eq(~collect_bank)
                    m.next = "COLLECT"
        return m
