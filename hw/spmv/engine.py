"""The EIE-style sparse matrix-vector engine: broadcast, PEs, read-out.

Use: load the layer (or build the engine with it), set ``rows``, ``cols`` and ``relu``, pulse
``start``, stream the ``cols`` activations ``x[0..cols-1]`` into ``activations`` and take the
``rows`` outputs ``y[0..rows-1]`` from ``outputs``; ``busy`` falls after the last output.
``reading_out`` is high while the rows are read out: the PEs are done with the codebook, and
``load`` takes the next layer's (``CODEBOOK`` writes only; every write while idle).
``codebook_ready`` says whether a ``CODEBOOK`` write would be taken now: ``load.ready`` depends
on the payload's target, ``codebook_ready`` on registers only, so a codebook copier can decide
its next read from it without its own multiplexer in the path.

With two accumulator banks (``SpMVConfig.accumulator_banks``) runs alternate between the banks,
and ``start_ready`` rises as soon as a run has computed: the next run (the next layer, whose
activations may be this run's outputs as they come) computes into one bank while this run's
rows are read out of the other. Each bank has its codebook: ``CODEBOOK`` writes are taken at
any time and go to the next run's, or to both while the engine is idle. With one bank
``start_ready`` is ``~busy``.

Several layers can be stored one after another (``SpMVConfig.column_depth`` / ``bias_depth``):
``column_base`` and ``bias_base`` then say where the layer to run starts in the pointer and bias
memories (its pointers are absolute entry indices); the codebook is loaded per layer.

Cycle counters:

- ``compute_cycles``: from the cycle after ``start`` until every PE has written back its last
  product; reset by ``start``. The ideal is the busiest PE's entry count
  (``sw.golden.spmv.ideal_cycles``); their ratio is the load-balance efficiency.
- ``output_cycles``: the read-out of ``rows`` outputs (one per cycle without backpressure);
  reset when the read-out begins.
"""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import SpMVConfig
from hw.keep import kept_copies
from hw.memory import CollisionFreeMemory
from hw.protocol import ModelMemory
from hw.spmv.lanes import any_nonzero, lane_shape, lanes_of
from hw.spmv.pe import ProcessingElement

__all__ = ["LoadTarget", "SpMVEngine", "load_layout"]


class LoadTarget(enum.Enum, shape=2):
    """Which memory a run-time write goes to (the numbers of the host's LOAD records)."""

    POINTER = ModelMemory.POINTER.value  # address = column (0..cols), data = entry index; per PE
    ENTRY = ModelMemory.ENTRY.value  # address = entry index, data = (code << index_bits) | z
    CODEBOOK = ModelMemory.CODEBOOK.value  # address = code (0..15), data = value; shared
    BIAS = ModelMemory.BIAS.value  # address = row, data = signed bias; shared


def load_layout(config: SpMVConfig) -> data.StructLayout:
    """Payload of the ``load`` stream."""
    address_bits = config.load_address_bits
    return data.StructLayout({"target": LoadTarget, "pe": max(1, (config.pes - 1).bit_length()),
                              "address": address_bits, "data": config.load_data_bits})


class SpMVEngine(wiring.Component):
    """Sparse matrix-vector engine ``y = sat(relu?((W @ x) >> codebook_frac + b))``.

    Parameters
    ----------
    config : SpMVConfig
        PEs, widths, FIFO depth and memory sizes.
    layer : sw.csc.EncodedLayer or sw.model_image.ModelImage, optional
        Initial memory contents (checked against ``config``); the memories stay writable
        through ``load`` when the engine is idle.
    """

    def __init__(self, config: SpMVConfig, *, layer=None):
        if not isinstance(config, SpMVConfig):
            raise TypeError(f"config must be an SpMVConfig, not {config!r}")
        if layer is not None:
            layer.check_fits(config)
        self.config = config
        self.layer = layer
        super().__init__({
            "activations": In(stream.Signature(lane_shape(config.act_width, config.batch))),
            "outputs": Out(stream.Signature(lane_shape(config.act_width, config.batch))),
            "load": In(stream.Signature(load_layout(config))),
            "rows": In(range(config.max_rows + 1)),
            "cols": In(range(config.max_cols + 1)),
            "relu": In(1),
            "column_base": In(config.column_address_bits),
            "bias_base": In(config.bias_address_bits),
            "start": In(1),
            "start_ready": Out(1),
            "busy": Out(1),
            "reading_out": Out(1),
            "codebook_ready": Out(1),
            "compute_cycles": Out(32),
            "output_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        config, layer = self.config, self.layer
        pes = [ProcessingElement(
                   config,
                   pointers=None if layer is None else layer.col_ptr[index],
                   entries=None if layer is None else layer.entries[index],
                   codebook=None if layer is None else layer.codebook)
               for index in range(config.pes)]
        for index, pe in enumerate(pes):
            m.submodules[f"pe{index}"] = pe

        m.submodules.biases = biases = CollisionFreeMemory(
            shape=signed(config.bias_width), depth=config.biases_stored,
            init=[] if layer is None else [int(v) for v in layer.bias])
        bias_read = biases.read_port()
        bias_write = biases.write_port()

        # Run-time writes, accepted only while idle so a run never sees half a layer (but for
        # the codebook during the read-out, which no PE reads then: the next layer's goes in
        # while this layer's rows come out), and registered before they reach the memories:
        # unregistered, the host's decision to write ran on through an SPRAM's address
        # multiplexer (the iCEBreaker's worst path, 35 ns).
        request = Signal.like(self.load.payload)
        writing = Signal()
        request_idle = Signal()  # the engine was idle when the write was taken
        codebook_load = self.load.payload.target == LoadTarget.CODEBOOK
        # with two codebooks the next run's goes in while this one runs
        codebook_free = self.reading_out if config.accumulator_banks == 1 else 1
        m.d.comb += [self.codebook_ready.eq(~self.busy | codebook_free),
                     self.load.ready.eq(Mux(codebook_load, self.codebook_ready, ~self.busy))]
        m.d.sync += [request.eq(self.load.payload), request_idle.eq(~self.busy),
                     writing.eq(self.load.valid & self.load.ready)]
        for index, pe in enumerate(pes):
            selected = writing & (request.pe == index)
            for port, target in ((pe.pointer_write, LoadTarget.POINTER),
                                 (pe.entry_write, LoadTarget.ENTRY)):
                m.d.comb += [port.address.eq(request.address), port.data.eq(request.data),
                             port.enable.eq(selected & (request.target == target))]
        # Runs alternate between the accumulator banks (and codebooks) when there are two.
        compute_bank = Signal()  # the bank of the run computing (or last computed)
        readout_bank = Signal()  # the bank of the run reading out (or last read out)
        for pe in pes:
            m.d.comb += [pe.compute_bank.eq(compute_bank), pe.readout_bank.eq(readout_bank)]
        self._codebook(m, pes, request, writing & (request.target == LoadTarget.CODEBOOK),
                       both=request_idle, bank=~compute_bank, compute_bank=compute_bank)
        m.d.comb += [bias_write.addr.eq(request.address), bias_write.data.eq(request.data),
                     bias_write.en.eq(writing & (request.target == LoadTarget.BIAS))]

        # A run's shape, taken at its start; the read-out's copy is taken when the run's
        # computation hands over to the read-out (with one bank: the same registers).
        cols = Signal.like(self.cols)
        column_base = Signal.like(self.column_base)
        run_rows = Signal.like(self.rows)
        run_relu = Signal()
        run_bias_base = Signal.like(self.bias_base)
        if config.accumulator_banks == 1:
            rows, relu, bias_base = run_rows, run_relu, run_bias_base
        else:
            rows = Signal.like(self.rows)
            relu = Signal()
            bias_base = Signal.like(self.bias_base)
        compute_cycles = Signal(32)
        output_cycles = Signal(32)
        m.d.comb += [self.compute_cycles.eq(compute_cycles),
                     self.output_cycles.eq(output_cycles)]

        # Broadcast: a nonzero activation goes to every PE's FIFO at once; a zero is dropped
        # (with a batch: a column whose every lane is zero). The activation waits one cycle in
        # a register, its zero test with it: computed on the way in, the test of a batch's
        # lanes ran on into every PE's FIFO and was the ECP5's worst path at batch 4.
        column = Signal(range(config.max_cols + 1))  # activations accepted
        # Columns are left to take. A register, set from the next column's count as one is
        # taken: compared on the way out, ``column != cols`` led the activations' ready and the
        # producer's logic behind it, the iCE40's worst path (33.9 ns, 11 levels).
        more = Signal()
        held_valid = Signal()
        held_column = Signal(range(config.max_cols))
        held_value = Signal.like(self.activations.payload)
        held_nonzero = Signal()
        # Every PE had room last cycle, so it has room for one column now (a PE's ``room``
        # leaves one FIFO entry spare): registered, the PEs' fill levels no longer run across
        # the chip into every FIFO's write, the ECP5's worst path at batch 4 after the above.
        all_room = Signal()
        all_idle = Signal()
        m.d.sync += all_room.eq(Cat(pe.room for pe in pes).all())
        m.d.comb += all_idle.eq(Cat(pe.idle for pe in pes).all())
        leaving = Signal()  # the held activation goes to the PEs (or is dropped) this cycle
        m.d.comb += leaving.eq(held_valid & (~held_nonzero | all_room))
        accepted = Signal()
        m.d.comb += accepted.eq(self.activations.valid & self.activations.ready)

        def broadcast(pe, valid):
            return [pe.columns.payload.column.eq(column_base + held_column),
                    pe.columns.payload.value.eq(held_value), pe.columns.valid.eq(valid)]

        # With several PEs, each PE's column valid is two registers of its own: a copy of "a
        # nonzero activation is held" and one of ``all_room``. One set of registers (and the
        # state machine's state) driving every PE's FIFO write was the ULX3S's worst path once
        # the accumulators' rows were copied per lane (12.54 ns, 11.07 of it routing). A
        # column is held only while computing, so the state takes no part.
        if config.pes > 1:
            held_push = kept_copies(
                m, Mux(accepted, any_nonzero(self.activations.payload, config.batch),
                       held_valid & held_nonzero & ~leaving),
                config.pes, name="column_held_for_pe")
            room = kept_copies(m, Cat(pe.room for pe in pes).all(), config.pes,
                               name="room_of_pe")
            for pe, pe_held, pe_room in zip(pes, held_push, room, strict=True):
                m.d.comb += broadcast(pe, pe_held & pe_room)

        # Read-out: row i comes from PE i % pes, local row i // pes, one row per cycle while
        # the output FIFO has room for everything in flight.
        # Post-processing takes three pipeline stages (select, add, saturate); the FIFO holds
        # what is in flight plus some slack, so reads issue every cycle while the sink keeps up.
        output_depth = 6
        m.submodules.output_fifo = output_fifo = fifo.SyncFIFO(
            width=config.act_width * config.batch, depth=output_depth)
        m.d.comb += [self.outputs.payload.eq(output_fifo.r_data),
                     self.outputs.valid.eq(output_fifo.r_rdy),
                     output_fifo.r_en.eq(self.outputs.ready)]
        issued = Signal(range(config.max_rows + 1))
        owner = Signal(range(config.pes))
        local_row = Signal(config.local_row_bits + 1)
        in_flight = Signal()
        in_flight_owner = Signal(range(config.pes))
        issue = Signal()
        picked_valid = Signal()
        total_valid = Signal()
        # Rows issued and not yet taken from the output FIFO: in flight, in the two
        # post-processing stages or in the FIFO. Kept as a register (it changes only by an
        # issue or a read) so the issue decision does not wait on an adder of four terms.
        occupancy = Signal(range(output_depth + 1))
        m.d.sync += occupancy.eq(occupancy + issue
                                 - (output_fifo.r_en & output_fifo.r_rdy))

        # Two state machines: the computation (broadcast and PEs) and the read-out. A run's
        # computation hands over to the read-out when every PE is done and the read-out is
        # free; with two banks the next run may then start while this one is read out.
        handoff = Signal()
        output_idle = Signal()
        with m.FSM(name="compute") as compute:
            with m.State("IDLE"):
                m.d.comb += self.start_ready.eq(output_idle if config.accumulator_banks == 1
                                                else 1)
                with m.If(self.start & self.start_ready):
                    m.d.sync += [run_rows.eq(self.rows), cols.eq(self.cols),
                                 run_relu.eq(self.relu), column_base.eq(self.column_base),
                                 run_bias_base.eq(self.bias_base), column.eq(0),
                                 more.eq(self.cols != 0), compute_cycles.eq(0)]
                    if config.accumulator_banks == 2:
                        m.d.sync += compute_bank.eq(~compute_bank)
                    m.next = "COMPUTE"
            with m.State("COMPUTE"):
                m.d.sync += compute_cycles.eq(compute_cycles + 1)
                m.d.comb += self.activations.ready.eq(more & (~held_valid | leaving))
                if config.pes == 1:
                    # one PE has no fan-out to cut: its valid as before the copies. The
                    # iCEBreaker's builds (one PE) with the copies: 38.3 MHz on the mean of
                    # nextpnr seeds 1 to 8, 39.27 at best, against 38.6 and 40.21 without
                    m.d.comb += broadcast(pes[0], held_valid & held_nonzero & all_room)
                with m.If(accepted):
                    m.d.sync += [column.eq(column + 1), more.eq(column + 1 != cols),
                                 held_valid.eq(1),
                                 held_column.eq(column), held_value.eq(self.activations.payload),
                                 held_nonzero.eq(any_nonzero(self.activations.payload,
                                                             config.batch))]
                with m.Elif(leaving):
                    m.d.sync += held_valid.eq(0)
                with m.If(~more & ~held_valid & all_idle):
                    m.d.comb += handoff.eq(output_idle)
                    with m.If(output_idle):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DONE"
            with m.State("DONE"):  # computed; the run before is still being read out
                m.d.comb += handoff.eq(output_idle)
                with m.If(output_idle):
                    m.next = "IDLE"
        with m.FSM(name="readout") as readout:
            with m.State("IDLE"):
                m.d.comb += output_idle.eq(1)
                with m.If(handoff):
                    m.d.sync += [issued.eq(0), owner.eq(0), local_row.eq(0),
                                 output_cycles.eq(0), readout_bank.eq(compute_bank)]
                    if config.accumulator_banks == 2:
                        m.d.sync += [rows.eq(run_rows), relu.eq(run_relu),
                                     bias_base.eq(run_bias_base)]
                    m.next = "OUTPUT"
            with m.State("OUTPUT"):
                m.d.comb += self.reading_out.eq(1)
                m.d.sync += output_cycles.eq(output_cycles + 1)
                m.d.comb += issue.eq((issued != rows) & (occupancy != output_depth))
                with m.If(issue):
                    m.d.sync += [issued.eq(issued + 1),
                                 owner.eq(Mux(owner == config.pes - 1, 0, owner + 1))]
                    with m.If(owner == config.pes - 1):
                        m.d.sync += local_row.eq(local_row + 1)
                with m.If((issued == rows) & ~in_flight & ~picked_valid & ~total_valid
                          & ~output_fifo.r_rdy):
                    m.next = "IDLE"
        m.d.comb += self.busy.eq(~compute.ongoing("IDLE") | ~readout.ongoing("IDLE"))
        for index, pe in enumerate(pes):
            m.d.comb += [pe.readout_address.eq(local_row),
                         pe.readout_enable.eq(issue & (owner == index))]
        m.d.comb += bias_read.addr.eq(bias_base + issued)
        m.d.sync += [in_flight.eq(issue), in_flight_owner.eq(owner)]

        # The row read last cycle: pick the owner's accumulator and the bias (stage 1), shift
        # (floor) and add (stage 2), ReLU and saturate into the output FIFO (stage 3).
        picked = Signal(lane_shape(config.acc_width, config.batch))
        picked_bias = Signal(signed(config.bias_width))
        with m.Switch(in_flight_owner):
            for index, pe in enumerate(pes):
                with m.Case(index):
                    m.d.sync += picked.eq(pe.readout_data)
        m.d.sync += [picked_bias.eq(bias_read.data), picked_valid.eq(in_flight)]
        total = Signal(lane_shape(
            max(config.acc_width - config.codebook_frac, config.bias_width) + 1, config.batch))
        m.d.sync += total_valid.eq(picked_valid)
        low, high = config.act_range
        result = Signal(lane_shape(config.act_width, config.batch))
        for lane_total, lane_picked, lane_result in zip(
                lanes_of(total, config.batch), lanes_of(picked, config.batch),
                lanes_of(result, config.batch), strict=True):
            m.d.sync += lane_total.eq((lane_picked >> config.codebook_frac) + picked_bias)
            with m.If(relu & (lane_total < 0)):
                m.d.comb += lane_result.eq(0)
            with m.Elif(lane_total > high):
                m.d.comb += lane_result.eq(high)
            with m.Elif(lane_total < low):
                m.d.comb += lane_result.eq(low)
            with m.Else():
                m.d.comb += lane_result.eq(lane_total)
        m.d.comb += [output_fifo.w_data.eq(result), output_fifo.w_en.eq(total_valid)]
        return m

    def _codebook(self, m, pes, request, write, *, both, bank, compute_bank):
        """The 16 shared weight values: register copies the PEs read, or (``codebook_memory
        == "block"``) a copy in each PE's block RAM; ``write`` stores ``request``'s data at
        code ``address``. With two accumulator banks there are two register copies, one per
        bank: the PEs read the computing run's (``compute_bank``); a write goes to ``bank``
        (the next run's), or to both when ``both`` (taken while the engine was idle, so that
        a codebook loaded once serves every run after it)."""
        config, layer = self.config, self.layer
        if config.codebook_memory == "block":
            for pe in pes:
                m.d.comb += [pe.codebook_write.address.eq(request.address),
                             pe.codebook_write.data.eq(request.data),
                             pe.codebook_write.enable.eq(write)]
            return
        layout = data.ArrayLayout(signed(config.codebook_width), config.CODEBOOK_SIZE)
        init = [] if layer is None else [int(v) for v in layer.codebook]
        codebooks = [Signal(layout, init=init, name=f"codebook{index}")
                     for index in range(config.accumulator_banks)]
        for index, codebook in enumerate(codebooks):
            targeted = write if len(codebooks) == 1 else write & (both | (bank == index))
            with m.If(targeted):
                m.d.sync += codebook[request.address[:config.CODE_BITS]].eq(request.data)
        read = codebooks[0]
        if len(codebooks) == 2:
            # a register, a cycle behind the bank: a run's first lookup comes several cycles
            # after its start, and the bank register would otherwise drive 128 multiplexers
            read = Signal(layout, init=init, name="codebook")
            m.d.sync += read.eq(Mux(compute_bank, codebooks[1], codebooks[0]))
        for pe in pes:
            m.d.comb += pe.codebook.eq(read)
