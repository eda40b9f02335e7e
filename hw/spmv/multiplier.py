"""A PE lane's multiplier with its operands registered twice: ``SpMVConfig.multiplier_stages``
2 (with 1 the PE multiplies in place, straight into its product register).

The PE's weight and activation registers feed a second pair of operand registers in front of the
multiplier, and the product is registered after it: two cycles from operands to product. On an
ECP5 that second pair is the MULT18X18D's own input registers (``REG_INPUTA_CLK``,
``REG_INPUTB_CLK``): the routing from the PE's weight register to its lanes' DSPs ends at a
register, and the multiply starts from one inside the block. yosys maps ``*`` to a MULT18X18D
with every register off and has no pass that packs flip-flops into it, so on an ECP5 platform
the block is instantiated; elsewhere (simulation, Verilog export, the iCE40) the same registers
are RTL. The instance's wiring is simulated against a model of the block
(:mod:`sim.mult18x18d`, ``tests/test_multiplier.py``).

Every stage holds whatever enters it: the PE pipeline's valid bits say which products count.
"""

from amaranth import ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DSP_OPERAND_BITS", "LaneMultiplier", "uses_ecp5_dsp"]

DSP_OPERAND_BITS = 18  # MULT18X18D: 18 x 18 signed -> 36


def uses_ecp5_dsp(platform) -> bool:
    """Whether ``platform`` is an ECP5's (an amaranth ``LatticePlatform`` of family ecp5)."""
    return getattr(platform, "family", None) == "ecp5"


class LaneMultiplier(wiring.Component):
    """``product`` = ``weight * value`` two cycles after they are presented (module docstring).

    Parameters
    ----------
    weight_width, value_width : int
        Widths of the signed operands (at most 18 each on an ECP5).
    """

    def __init__(self, weight_width: int, value_width: int):
        super().__init__({
            "weight": In(signed(weight_width)),
            "value": In(signed(value_width)),
            "product": Out(signed(weight_width + value_width)),
        })

    def elaborate(self, platform):
        m = Module()
        if uses_ecp5_dsp(platform):
            self._ecp5_registered_inputs(m)
        else:
            weight = Signal.like(self.weight, name="weight_in")
            value = Signal.like(self.value, name="value_in")
            m.d.sync += [weight.eq(self.weight), value.eq(self.value),
                         self.product.eq(weight * value)]
        return m

    def _ecp5_registered_inputs(self, m):
        for name, operand in (("weight", self.weight), ("value", self.value)):
            if len(operand) > DSP_OPERAND_BITS:
                raise ValueError(f"a MULT18X18D takes {DSP_OPERAND_BITS}-bit operands; the "
                                 f"{name} has {len(operand)}")
        a = Signal(DSP_OPERAND_BITS)
        b = Signal(DSP_OPERAND_BITS)
        p = Signal(2 * DSP_OPERAND_BITS)
        m.d.comb += [a.eq(self.weight.as_signed()), b.eq(self.value.as_signed())]
        ports = {f"i_A{bit}": a[bit] for bit in range(DSP_OPERAND_BITS)}
        ports |= {f"i_B{bit}": b[bit] for bit in range(DSP_OPERAND_BITS)}
        ports |= {f"i_C{bit}": Const(0) for bit in range(DSP_OPERAND_BITS)}
        ports |= {f"o_P{bit}": p[bit] for bit in range(2 * DSP_OPERAND_BITS)}
        m.submodules.dsp = Instance(
            "MULT18X18D",
            p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
            p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
            p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE", p_REG_OUTPUT_CLK="NONE",
            p_GSR="DISABLED", p_RESETMODE="SYNC",
            i_SIGNEDA=Const(1), i_SIGNEDB=Const(1), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
            i_CLK0=ClockSignal(), i_CE0=Const(1), i_RST0=Const(0),
            **ports)
        m.d.sync += self.product.eq(p[:len(self.product)].as_signed())
