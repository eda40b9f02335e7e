"""Boards asrhw builds for: which FPGA, how it is flashed, and its out-of-context device name.

The iCEBreaker carries an iCE40UP5K (8 DSPs, 4 SPRAMs, 30 EBRs: the SpMV engine's weights live
in SPRAM); the ULX3S-85F an ECP5-85F (enough EBR and multipliers for more PEs).
"""

from dataclasses import dataclass

from sw.system import DesignChoice

__all__ = ["BOARDS", "Board", "board_named"]


@dataclass(frozen=True)
class Board:
    """A supported board.

    Attributes
    ----------
    name : str
        Name users type (``--board``).
    device : str
        Key of :data:`boards.synth.DEVICES` for its FPGA.
    platform : str
        ``module:Class`` of its amaranth-boards platform.
    loader_board : str
        openFPGALoader's ``-b`` name.
    entry_memory : str
        Where a recognizer that takes LOAD frames keeps the PEs' entries
        (``SpMVConfig.entry_memory``): ``"spram"`` on the iCEBreaker, whose block RAM cannot
        hold them; the model then comes over the link after flashing (``asrhw compare --load``).
    codebook_memory : str
        Where every recognizer built for it keeps the codebook the PEs look up
        (``SpMVConfig.codebook_memory``): ``"block"`` on the iCEBreaker, whose logic is the
        scarce resource (a copy per PE in an EBR instead of 128 flip-flops and a multiplexer:
        240 LCs fewer in the digit design); the same outputs and cycles either way.
    free_list : str
        How every recognizer built for it keeps its free word-trace entries
        (``ViterbiConfig.free_list``): ``"stack"`` on the ULX3S, one DP16KD for a path that
        no longer runs from the trace memory's output into its address; ``"linked"`` on the
        iCEBreaker, whose 30 EBRs are all taken. The same outputs and cycles either way.
    accumulator_memory : str
        Where every recognizer built for it keeps its PEs' accumulators
        (``SpMVConfig.accumulator_memory``): ``"auto"`` lets yosys choose by size, LUT RAM on
        the ECP5 and EBR on the iCE40. In the ECP5's block RAM a batch's accumulators pulled
        every PE towards the block RAM rows and put their clock-to-out into the accumulate
        loop: batch 2 ran at 71.8 MHz (88.8 in LUT RAM), batches 4 and 8 did not route.
        ``"lut"`` on the ULX3S: a LUT RAM per lane, each with a row register of its own,
        where one register had addressed a bank's 128 LUT RAMs (16 each now) and begun the
        worst path (78.31 MHz; 79.73 with the lane rows, 83.26 with the PEs' broadcast
        registers copied as well, seed 1). The same outputs and cycles every way.
    column_queue_memory : str
        How every recognizer built for it keeps its PEs' column queues
        (``SpMVConfig.column_queue_memory``): ``"registers"`` on the iCEBreaker (seeds 1 to 16
        of the board's design: mean 39.75 MHz, 6 of 16 at 40 or more, against 39.10 and 2 of
        16 with ``"memory"``), ``"memory"`` on the ULX3S (its LUT RAM: 85.98 MHz at seed 1 against
        73.81 in 3,700 more flip-flops). The same outputs and cycles either way.
    recognizer : DesignChoice
        The digit recognizer ``asrhw build --model`` builds for it and ``asrhw compare
        --board`` compares, where the command's options do not say otherwise: on the
        iCEBreaker one PE with a 2-deep column FIFO (one PE has no load to balance) and a
        16 x 2 table with 255 trace entries, whose two ways fit four EBRs each (a 4 x 4 table's
        ways go to flip-flops, which the UP5K's logic cannot spare), and 12-bit costs (4,095
        sixteenths: the beam is 12), which narrow the Viterbi unit's datapath, and every
        epsilon pass run (``skip_settled_passes`` off: its one PE takes about 14,600 cycles
        per frame, so the unit's cycles change nothing there, and builds with the skip ran 2
        to 3 MHz slower, 28.6, 30.5, 28.9 MHz at seeds 1 to 3 against 31.8, 32.3 and 32.5
        without; on the ULX3S the unit works 246 cycles per frame instead of 320). On the ULX3S
        eight frames per pass over the weights (``batch``) and the core splicing the ±5 frames
        of context (``splice_context``), so the host sends 40 values per frame instead of 440,
        and two accumulator banks (``accumulator_banks``: each layer computes while the one
        before is read out), and two multiplier stages (``multiplier_stages``: the operands in
        the MULT18X18Ds' input registers; 83.26 -> 87.63 MHz at seed 1, 88.79 / 80.91 / 83.17
        at seeds 1 to 3 of the first build, one cycle more per layer), but one accumulate stage
        (``accumulate_stages`` 2, the accumulators read a cycle ahead, moved most of the slow
        endpoints below 8 ns but built at 82.08 / 79.36 MHz at seeds 1 / 2: a tail of control
        paths sets the Fmax; README). And it balances the hidden units over its PEs
        (``row_order``) and stores 5-bit row indices (``index_bits``; the iCEBreaker 8-bit
        ones): no column of the digit model then needs a padding entry. Its column FIFOs are
        16 deep (``fifo_depth``; a DPR16X4 is 16 deep, so no more LUT RAM than 8): 328.0 cycles
        per frame against 330.6. On this round's model: 328.0 cycles per frame at 90.89 MHz
        (router1, seed 1, wide LUTs), 3.61 us per frame; with 8-deep FIFOs 330.6 at 85.08 MHz,
        3.89 us; before the balanced rows and the wider indices 374.1 at 85.98 MHz, 4.35 us;
        one bank took 463 at 80.18 MHz (28 min), 5.8 us;
        3,022 cycles unbatched. (An earlier comparison kept one bank: its two-bank build,
        47.7 MHz, had been routed with router2, which gives about half router1's Fmax on
        these designs.) ``--batch 4``: 866 cycles, 10 to 15 minutes of place and route;
        figures in the README. Sixteen PEs (``--pes 16``) take 308 cycles (273 with two banks)
        but router1 does not finish them (a third of the arcs routed after 33 minutes; with
        two banks and wide LUTs 86,000 of 262,000 after 20 minutes, slowing; README), so the
        board keeps eight. The iCEBreaker's host splices: the
        12-frame store the core would need takes EBRs, and all 30 are in use.
    """

    name: str
    device: str
    platform: str
    loader_board: str
    entry_memory: str = "block"
    codebook_memory: str = "registers"
    free_list: str = "stack"
    accumulator_memory: str = "auto"
    column_queue_memory: str = "memory"
    recognizer: DesignChoice = DesignChoice()


BOARDS = {
    "icebreaker": Board("icebreaker", "ice40-up5k",
                        "amaranth_boards.icebreaker:ICEBreakerPlatform", "ice40_generic",
                        entry_memory="spram", codebook_memory="block", free_list="linked",
                        column_queue_memory="registers",
                        recognizer=DesignChoice(sets=16, ways=2, trace_depth=255, pes=1,
                                                fifo_depth=2, cost_width=12,
                                                skip_settled_passes=False, index_bits=8)),
    "ulx3s-85f": Board("ulx3s-85f", "ecp5-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform",
                       "ulx3s", accumulator_memory="lut",
                       recognizer=DesignChoice(batch=8, splice_context=5, accumulator_banks=2,
                                               multiplier_stages=2, row_order="balanced",
                                               index_bits=5, fifo_depth=16)),
}


def board_named(name: str) -> Board:
    """The :class:`Board` called ``name``; ``ValueError`` naming the known boards otherwise."""
    if name not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {name!r}")
    return BOARDS[name]
