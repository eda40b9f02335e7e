"""A Verilog model of the ECP5 MULT18X18D, as far as :class:`hw.spmv.multiplier.LaneMultiplier`
uses it, for checking the instance's wiring in a simulator.

yosys ships the block only as a black box, and Lattice's own model is not at hand, so this is
written from the block's documented behaviour (Lattice TN1267, "ECP5 sysDSP usage"): ``P`` is
the product of ``A`` and ``B``, each signed when its ``SIGNEDA`` / ``SIGNEDB`` is high; with
``REG_INPUTA_CLK`` / ``REG_INPUTB_CLK`` set to ``"CLK0"`` the operand (and its sign flag) is
registered on ``CLK0`` while ``CE0`` is high and cleared by ``RST0``. Any other register setting
stops the simulation: the model says nothing about it.
"""

__all__ = ["mult18x18d_model"]

_BITS = 18


def mult18x18d_model() -> str:
    """Verilog source of the ``MULT18X18D`` model."""
    a = [f"A{bit}" for bit in range(_BITS)]
    b = [f"B{bit}" for bit in range(_BITS)]
    c = [f"C{bit}" for bit in range(_BITS)]
    p = [f"P{bit}" for bit in range(2 * _BITS)]
    inputs = a + b + c + ["SIGNEDA", "SIGNEDB", "SOURCEA", "SOURCEB", "CLK0", "CE0", "RST0"]
    ports = ", ".join(inputs + p)
    concat = lambda names: "{" + ", ".join(reversed(names)) + "}"  # noqa: E731 (MSB first)
    return f"""\
module MULT18X18D({ports});
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTA_CE = "CE0";
  parameter REG_INPUTA_RST = "RST0";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_INPUTB_CE = "CE0";
  parameter REG_INPUTB_RST = "RST0";
  parameter REG_INPUTC_CLK = "NONE";
  parameter REG_PIPELINE_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter GSR = "ENABLED";
  parameter RESETMODE = "SYNC";
  input {", ".join(inputs)};
  output {", ".join(p)};
  wire [17:0] a_in = {concat(a)};
  wire [17:0] b_in = {concat(b)};
  reg [17:0] a_reg = 0, b_reg = 0;
  reg signed_a_reg = 0, signed_b_reg = 0;
  initial begin
    if ((REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
        || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
        || REG_PIPELINE_CLK != "NONE" || REG_OUTPUT_CLK != "NONE"
        || RESETMODE != "SYNC") begin
      $display("MULT18X18D model: register setting not modelled");
      $finish;
    end
  end
  always @(posedge CLK0) begin
    if (RST0) begin
      a_reg <= 0; b_reg <= 0; signed_a_reg <= 0; signed_b_reg <= 0;
    end else if (CE0) begin
      a_reg <= a_in; b_reg <= b_in; signed_a_reg <= SIGNEDA; signed_b_reg <= SIGNEDB;
    end
  end
  wire [17:0] a_used = REG_INPUTA_CLK == "CLK0" ? a_reg : a_in;
  wire [17:0] b_used = REG_INPUTB_CLK == "CLK0" ? b_reg : b_in;
  wire a_signed = REG_INPUTA_CLK == "CLK0" ? signed_a_reg : SIGNEDA;
  wire b_signed = REG_INPUTB_CLK == "CLK0" ? signed_b_reg : SIGNEDB;
  wire [35:0] a_wide = {{{{18{{a_signed & a_used[17]}}}}, a_used}};
  wire [35:0] b_wide = {{{{18{{b_signed & b_used[17]}}}}, b_used}};
  wire [35:0] product = a_wide * b_wide;
  assign {concat(p)} = product;
endmodule
"""
