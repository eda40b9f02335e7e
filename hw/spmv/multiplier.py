"""A PE lane's multiplier: a weight times an activation, the product registered.

``stages`` (``SpMVConfig.multiplier_stages``) is the cycles from operands to product:

- 1: the product register takes ``weight * value`` (yosys maps the multiply to a DSP; the path
  runs from the operand registers through the routing to the DSP and its multiplier);
- 2: the operands are registered once more in front of the multiplier. On an ECP5 these are
  the MULT18X18D's own input registers (``REG_INPUTA_CLK``, ``REG_INPUTB_CLK``): the routing
  from the PE's weight register to its lanes' DSPs ends at a register, and the multiplier runs
  from a register inside its block. yosys maps ``*`` to a MULT18X18D without registers and
  has no pass that packs flip-flops into it, so on an ECP5 platform the block is instantiated;
  elsewhere (simulation, Verilog export, the iCE40) the same registers are described in RTL.

Either way the product is a fabric register, and every stage holds whatever enters it: the PE
pipeline's valid bits say which products count.
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
    """``product`` = ``weight * value``, ``stages`` cycles after they are presented.

    Parameters
    ----------
    weight_width, value_width : int
        Widths of the signed operands (at most 18 each for ``stages == 2`` on an ECP5).
    stages : int
        1 or 2 (module docstring).
    """

    def __init__(self, weight_width: int, value_width: int, stages: int):
        if stages not in (1, 2):
            raise ValueError(f"stages must be 1 or 2, not {stages!r}")
        self.stages = stages
        super().__init__({
            "weight": In(signed(weight_width)),
            "value": In(signed(value_width)),
            "product": Out(signed(weight_width + value_width)),
        })

    def elaborate(self, platform):
        m = Module()
        if self.stages == 1:
            m.d.sync += self.product.eq(self.weight * self.value)
        elif uses_ecp5_dsp(platform):
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
