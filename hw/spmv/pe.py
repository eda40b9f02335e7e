"""One processing element of the sparse engine: its columns, entries and accumulators.

Pipeline (one entry per cycle, no bubble between columns of a busy PE):

``columns`` FIFO -> pointer read (start and end of the column, both in one cycle) -> pointer
register -> pending-column queue (empty columns are dropped here, costing no entry cycle) ->
entry read (the next column is taken over in the cycle the current one ends) -> entry register
(the block RAM's read data, registered before any logic) -> decode (row = previous row + z + 1
and the codebook lookup, both registered) -> multiply (registered weight times registered
activation, ``multiplier_stages`` cycles: :mod:`hw.spmv.multiplier`; the row travels alongside,
and the accumulator read is issued at it in the product's last cycle) -> accumulate (write back
one cycle after the read).

The accumulator read port is transparent to the accumulator write port and the write follows its
read by exactly one cycle, so two entries of the same row in consecutive cycles (the last entry
of a column and the first of the next) accumulate correctly without a stall. An entry's read is
issued in the cycle the entry before it writes back, after every earlier entry has written.
With ``accumulate_stages`` 2 the read is issued a cycle earlier and its word registered; the
entry just ahead then writes back after that read, so an entry of its row takes its total
instead of the word (forwarding). The write back stays where it was: the same cycles.
"""

from dataclasses import dataclass

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.config import SpMVConfig, bits_for
from hw.keep import kept_copies
from hw.memory import CollisionFreeMemory
from hw.spmv.column_queue import ColumnQueue
from hw.spmv.lanes import lane_shape, lanes_of
from hw.spmv.multiplier import LaneMultiplier
from hw.spram import SPRAM

__all__ = ["ProcessingElement", "column_layout"]


def column_layout(config: SpMVConfig) -> data.StructLayout:
    """A nonzero activation as broadcast to the PEs: its column and its value (one per lane)."""
    return data.StructLayout({"column": config.column_address_bits,
                              "value": lane_shape(config.act_width, config.batch)})


def _memory_init(values, depth):
    values = [int(v) for v in values] if values is not None else []
    return values + [0] * (depth - len(values))


class ProcessingElement(wiring.Component):
    """Processing element ``index`` of an engine built from ``config``.

    Parameters
    ----------
    config : SpMVConfig
        Engine parameters (widths, depths, FIFO depth).
    pointers, entries : sequence of int, optional
        Initial contents of the column-pointer and entry memories (a layer's ``col_ptr[pe]`` and
        ``entries[pe]``); zeros when omitted. Both memories are also writable through
        ``pointer_write`` / ``entry_write``. With ``config.entry_memory == "spram"`` the entries
        live in SPRAM (:class:`hw.spram.SPRAM`), which starts empty: ``entries`` must be
        omitted and the entries written before a run; so must ``pointers`` with
        ``config.pointer_memory == "spram"``.
    codebook : sequence of int, optional
        Initial contents of the PE's own codebook copy when ``config.codebook_memory ==
        "block"`` (written through ``codebook_write``); with ``"registers"`` the PE reads the
        engine's copy on ``codebook`` instead.
    """

    def __init__(self, config: SpMVConfig, *, pointers=None, entries=None, codebook=None):
        if not isinstance(config, SpMVConfig):
            raise TypeError(f"config must be an SpMVConfig, not {config!r}")
        self.config = config
        if config.pointer_memory == "spram" and pointers is not None and any(pointers):
            raise ValueError("column pointers in SPRAM have no initial contents: build the PE "
                             "without pointers and write them through pointer_write")
        self._pointer_init = _memory_init(pointers, config.columns_stored + 1)
        if config.entry_memory == "spram" and entries is not None and any(entries):
            raise ValueError("entries in SPRAM have no initial contents: build the PE without "
                             "entries and write them through entry_write")
        self._entry_init = _memory_init(entries, config.entry_depth)
        self._codebook_init = _memory_init(codebook, config.CODEBOOK_SIZE)
        if config.codebook_memory == "registers":
            codebook_port = {"codebook": In(data.ArrayLayout(signed(config.codebook_width),
                                                             config.CODEBOOK_SIZE))}
        else:
            codebook_port = {"codebook_write": In(_write_signature(config.CODE_BITS,
                                                                   config.codebook_width))}
        super().__init__({
            "columns": In(stream.Signature(column_layout(config))),
            **codebook_port,
            "pointer_write": In(_write_signature(bits_for(config.columns_stored),
                                                 config.pointer_width)),
            "entry_write": In(_write_signature(config.entry_address_bits, config.entry_width)),
            "readout_address": In(config.local_row_bits),
            "readout_enable": In(1),
            # with two accumulator banks: the bank this run accumulates into and the bank the
            # engine reads out (and clears); both stay put while their run lasts
            "compute_bank": In(1),
            "readout_bank": In(1),
            "readout_data": Out(lane_shape(config.acc_width, config.batch)),
            "room": Out(1),
            "idle": Out(1),
            "entries_processed": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        index_bits = config.index_bits

        # ``room`` keeps one entry spare, so that it still promises space for a column pushed
        # a cycle later: the engine registers every PE's ``room`` before it broadcasts,
        # instead of waiting on every FIFO's fill level. A depth of 1 gets a second entry for
        # it; deeper FIFOs keep their size (a power of two stays one: a ninth entry of eight
        # cost the UP5K 300 LCs in a 4-PE engine, which then did not place).
        depth = max(config.fifo_depth, 2)
        m.submodules.column_fifo = column_fifo = fifo.SyncFIFO(
            width=len(self.columns.payload.as_value()), depth=depth)
        m.d.comb += [column_fifo.w_data.eq(self.columns.payload),
                     column_fifo.w_en.eq(self.columns.valid),
                     self.columns.ready.eq(column_fifo.w_rdy),
                     self.room.eq(column_fifo.level < depth - 1)]
        head = column_layout(config)(column_fifo.r_data)

        # Column pointers are kept twice, the second copy shifted by one column, so that a
        # column's start and end are read at the same address: no adder before the RAMs.
        pointer_address = Signal(config.column_address_bits)  # the pointer stage's next read
        start_data, end_data = self._pointer_memories(m, pointer_address)
        activation_shape = lane_shape(config.act_width, config.batch)
        entry_address = Signal(config.entry_address_bits)  # the entry stage's next read
        entry_data = self._entry_memory(m, entry_address)

        # Columns whose pointers have been read, waiting for the entry stage.
        pending_layout = data.StructLayout({
            "start": config.pointer_width, "end": config.pointer_width,
            "value": activation_shape, "single": 1})
        m.submodules.pending = pending = ColumnQueue(width=pending_layout.size, depth=3,
                                                    storage=config.column_queue_memory)
        next_column = pending_layout(pending.r_data)

        # Pointer stage: read both pointers (answered next cycle), register them (block RAM
        # outputs are slow), then queue the column unless it is empty. A column is popped only
        # when the queue has room for it and for the two columns still in these stages, counting
        # the room the entry stage makes by taking a column this cycle: without that, a PE whose
        # columns are one entry long (or empty) took a column every 1.5 cycles, not every cycle:
        # 16 PEs ran the digit model's first layer in 767 cycles instead of 659 (538 entries).
        pointer_valid = Signal()
        pointer_value = Signal(activation_shape)
        pop = Signal()
        fetched_valid = Signal()
        fetched_start = Signal(config.pointer_width)
        fetched_end = Signal(config.pointer_width)
        fetched_value = Signal(activation_shape)
        take_next = Signal()  # the entry stage takes the queue's head this cycle
        # Columns in the two stages and the queue (pending.level + pointer_valid +
        # fetched_valid; a pop only leaves room for three, so never more), and whether they are
        # three as a flag updated a cycle ahead: the sum and its comparison ran between the
        # entry stage's hand-over and the column FIFO's level (the iCEBreaker's worst path,
        # 32.6 ns, 11 logic levels).
        occupancy = Signal(range(4))
        full = Signal()  # occupancy == 3
        dropped = Signal()  # a fetched column is empty and never enters the queue
        m.d.comb += [dropped.eq(fetched_valid & (fetched_start == fetched_end)),
                     pop.eq(column_fifo.r_rdy & (~full | take_next))]
        next_occupancy = occupancy + pop - take_next - dropped
        m.d.sync += [occupancy.eq(next_occupancy), full.eq(next_occupancy == 3)]
        m.d.comb += [column_fifo.r_en.eq(pop),
                     pointer_address.eq(head.column)]
        m.d.sync += [pointer_valid.eq(pop), pointer_value.eq(head.value),
                     fetched_valid.eq(pointer_valid), fetched_start.eq(start_data),
                     fetched_end.eq(end_data), fetched_value.eq(pointer_value)]
        queued = Signal(pending_layout)
        m.d.comb += [queued.start.eq(fetched_start), queued.end.eq(fetched_end),
                     queued.value.eq(fetched_value),
                     queued.single.eq(fetched_start + 1 == fetched_end),
                     pending.w_data.eq(queued),
                     pending.w_en.eq(fetched_valid), pending.w_keep.eq(~dropped)]

        # Entry stage. Whether the entry streamed now is its column's last is kept in a
        # register computed a cycle ahead, so that the hand-over to the next column (the
        # PE's critical control path) does not wait for an adder and a comparator.
        active = Signal()
        address = Signal(config.pointer_width)
        end = Signal(config.pointer_width)
        value = Signal(activation_shape)
        first = Signal()
        last_of_column = Signal()
        m.d.comb += entry_address.eq(address)
        m.d.comb += take_next.eq(pending.r_rdy & (~active | last_of_column))
        m.d.comb += pending.r_en.eq(take_next)
        with m.If(take_next):
            m.d.sync += [active.eq(1), address.eq(next_column.start), end.eq(next_column.end),
                         value.eq(next_column.value), first.eq(1),
                         last_of_column.eq(next_column.single)]
        with m.Elif(active):
            m.d.sync += [address.eq(address + 1), first.eq(0),
                         last_of_column.eq(address + 2 == end)]
            with m.If(last_of_column):
                m.d.sync += active.eq(0)
        # take_next while active also streams the entry at `address` this cycle.

        # Entry register: the entry read issued last cycle is answered now (read stage) and
        # registered as it comes out of the block RAM, whose clock-to-out leaves no time for
        # logic behind it.
        read_valid = Signal()
        read_value = Signal(activation_shape)
        read_first = Signal()
        m.d.sync += [read_valid.eq(active), read_value.eq(value), read_first.eq(first)]
        registered_valid = Signal()
        registered_value = Signal(activation_shape)
        registered_first = Signal()
        registered_entry = Signal(config.entry_width)
        m.d.sync += [registered_valid.eq(read_valid), registered_value.eq(read_value),
                     registered_first.eq(read_first), registered_entry.eq(entry_data)]

        # Decode stage: row and codebook lookup from the registered entry, both registered so
        # that the multiplier and the accumulator read see flip-flops only.
        code = registered_entry[index_bits:]
        skip = registered_entry[:index_bits]
        previous_row = Signal(config.local_row_bits + 1)
        row = Signal(config.local_row_bits + 1)
        m.d.comb += row.eq(Mux(registered_first, 0, previous_row + 1) + skip)
        with m.If(registered_valid):
            m.d.sync += previous_row.eq(row)
        decode_valid = Signal()
        decode_row = Signal(config.local_row_bits)
        decode_value = Signal(activation_shape)
        weight = self._codebook_lookup(m, code)
        m.d.sync += [decode_valid.eq(registered_valid & (code != 0)), decode_row.eq(row),
                     decode_value.eq(registered_value)]

        # Multiply stage: both multiplier inputs and its output are registers, with
        # ``multiplier_stages - 1`` more operand registers between them (hw.spmv.multiplier); the
        # row follows the product, and the accumulator read for it is issued
        # ``accumulate_stages`` cycles before the write back.
        multiply_valid, multiply_row = decode_valid, decode_row
        multiply_stages = []  # valid bits of the stages between decode and product, for idle
        # each stage's row, the decode stage's own (before its register) first
        stage_rows = [row[:config.local_row_bits], decode_row]
        for stage in range(1, config.multiplier_stages):
            staged_valid = Signal(name=f"multiply{stage}_valid")
            staged_row = Signal(config.local_row_bits, name=f"multiply{stage}_row")
            m.d.sync += [staged_valid.eq(multiply_valid), staged_row.eq(multiply_row)]
            multiply_valid, multiply_row = staged_valid, staged_row
            multiply_stages.append(staged_valid)
            stage_rows.append(staged_row)
        read_row = stage_rows[-config.accumulate_stages]
        accumulate_valid = Signal()
        accumulate_row = Signal(config.local_row_bits)
        product = Signal(lane_shape(config.product_width, config.batch))
        m.d.sync += [accumulate_valid.eq(multiply_valid), accumulate_row.eq(multiply_row)]
        lanes = list(zip(lanes_of(product, config.batch), lanes_of(decode_value, config.batch),
                         strict=True))
        if config.multiplier_stages == 1:
            # in place, as before multiplier stages existed: the same logic in a submodule
            # (tried) changed the iCEBreaker's netlist and its nextpnr seeds (mean of seeds 1
            # to 8: 38.1 MHz against 38.6, none at 40)
            for lane_product, lane_value in lanes:
                m.d.sync += lane_product.eq(weight * lane_value)
        else:
            for lane, (lane_product, lane_value) in enumerate(lanes):
                m.submodules[f"multiplier{lane}"] = multiplier = LaneMultiplier(
                    config.codebook_width, config.act_width)
                m.d.comb += [multiplier.weight.eq(weight), multiplier.value.eq(lane_value),
                             lane_product.eq(multiplier.product)]
        count = Signal(32)
        with m.If(registered_valid):
            m.d.sync += count.eq(count + 1)
        m.d.comb += self.entries_processed.eq(count)

        # Read-out and clearing: each row read is cleared one cycle later, ready for the run
        # after next. With one bank the read-out shares the accumulator ports (the engine reads
        # out only when every PE is idle); with two, it has the other bank's to itself.
        clear_valid = Signal()
        clear_row = Signal(config.local_row_bits)
        readout_bank = Signal()  # the bank of the row read last cycle, whose data is out now
        m.d.sync += [clear_valid.eq(self.readout_enable), clear_row.eq(self.readout_address),
                     readout_bank.eq(self.readout_bank)]
        accumulator_shape = lane_shape(config.acc_width, config.batch)
        ports, selects = [], [self._bank_selects(m, bank)
                              for bank in range(config.accumulator_banks)]
        for bank in range(config.accumulator_banks):
            name = "accumulators" if config.accumulator_banks == 1 else f"accumulators{bank}"
            if config.accumulator_memory == "lut":
                ports.append(self._lane_accumulators(
                    m, name, write_ahead=config.accumulate_stages == 2))
                continue
            # one accumulator per lane in each word: a row's lanes are read and written together
            m.submodules[name] = accumulators = Memory(
                shape=accumulator_shape, depth=config.local_rows,
                init=[],
                attrs={"ram_style": "block"} if config.accumulator_memory == "block" else {})
            write = accumulators.write_port()
            ports.append((write, accumulators.read_port(transparent_for=(write,))))
        if config.accumulate_stages == 2:
            registered_total = self._total_of_registered_reads(
                m, ports, selects, product, same_row_ahead=accumulate_valid
                & (multiply_row == accumulate_row))
        for bank, ((write, read), (computing, reading_out)) in enumerate(
                zip(ports, selects, strict=True)):
            if config.accumulate_stages == 1:
                # one adder per lane and bank, each on its own bank's word: a shared adder
                # behind a bank multiplexer saved some 2,000 LUTs on the ULX3S but put that
                # multiplexer into the read-add-write loop, the two-bank build's worst path
                # (13.82 ns, 72.35 MHz)
                total = Signal(accumulator_shape, name=f"total{bank}")
                for lane_total, lane_before, lane_product in zip(
                        lanes_of(total, config.batch), lanes_of(read.data, config.batch),
                        lanes_of(product, config.batch), strict=True):
                    m.d.comb += lane_total.eq(lane_before + lane_product)
            else:
                total = registered_total
            m.d.comb += read.addr.eq(Mux(self.readout_enable & reading_out,
                                         self.readout_address, read_row))
            if isinstance(write, _LaneWriteAhead):
                # next cycle's write: an entry's write back, else the row read out now cleared
                # (``computing`` changes only while the PE is idle, at a run's start)
                accumulate = multiply_valid & computing
                m.d.comb += [write.accumulate.eq(accumulate),
                             write.clear.eq(self.readout_enable & (self.readout_bank == bank)),
                             write.row.eq(Mux(accumulate, multiply_row, self.readout_address)),
                             write.total.eq(total)]
                continue
            with m.If(accumulate_valid & computing):
                m.d.comb += [write.addr.eq(accumulate_row), write.data.eq(total),
                             write.en.eq(1)]
            with m.Elif(clear_valid & (readout_bank == bank)):
                m.d.comb += [write.addr.eq(clear_row), write.data.eq(0), write.en.eq(1)]
        m.d.comb += self.readout_data.eq(ports[0][1].data if len(ports) == 1
                                         else Mux(readout_bank, ports[1][1].data,
                                                  ports[0][1].data))

        idle = (~column_fifo.r_rdy & ~pointer_valid & ~fetched_valid & ~pending.r_rdy & ~active
                & ~read_valid & ~registered_valid & ~decode_valid)
        for staged_valid in multiply_stages:
            idle &= ~staged_valid
        m.d.comb += self.idle.eq(idle & ~accumulate_valid)
        return m

    def _total_of_registered_reads(self, m, ports, selects, product, *, same_row_ahead):
        """The computing bank's word at the accumulated row plus ``product``, that word read a
        cycle ahead into a register (``accumulate_stages == 2``): one total for every bank
        (only the computing one writes it).

        The memory leaves the accumulate loop: it runs from the last total through a
        multiplexer and the adder back to the last total, and the bank multiplexer sits before
        the register, out of the loop, so one adder per lane serves both banks. The entry just
        ahead writes its row back in the cycle this entry's word is read, so an entry of the
        same row (``same_row_ahead``, a cycle before its write back) takes that entry's total
        instead; entries further ahead have written before the read."""
        config = self.config
        shape = lane_shape(config.acc_width, config.batch)
        words = [read.data for _, read in ports]
        computing_word = words[0] if len(words) == 1 else Mux(selects[1][0], words[1], words[0])
        before, last_total, total = (Signal(shape, name=name)
                                     for name in ("before", "last_total", "total"))
        forward = Signal()
        m.d.sync += [before.eq(computing_word), last_total.eq(total), forward.eq(same_row_ahead)]
        for lane_total, lane_before, lane_last, lane_product in zip(
                lanes_of(total, config.batch), lanes_of(before, config.batch),
                lanes_of(last_total, config.batch), lanes_of(product, config.batch),
                strict=True):
            m.d.comb += lane_total.eq(Mux(forward, lane_last, lane_before) + lane_product)
        return total

    def _lane_accumulators(self, m, name, *, write_ahead):
        """One bank of accumulators as a memory per lane, each read through a row register of
        its own (``accumulator_memory == "lut"``); returns ``(write, read)``: a write port, or
        with ``write_ahead`` the write a cycle ahead (:class:`_LaneWriteAhead`), and a port that
        behaves as the one memory's transparent synchronous read port does.

        In one memory, yosys registers the read row once, before LUT RAMs of every lane: on the
        ULX3S that register drove a bank's 128 LUT RAMs, some 40 columns away, and began the
        worst path (12.77 ns, 9.98 of it routing, into the accumulate adder). A row register
        per lane drives only its lane's. The address is registered in front of LUT RAM, whose
        read is asynchronous: the data of a row written in the cycle its read was issued is the
        new one, as through the transparent port. With ``write_ahead`` (``accumulate_stages``
        2) the write's row and enable are likewise a register per lane, loaded a cycle ahead:
        one write enable driving every lane's LUT RAMs was the worst path once the
        accumulators were read a cycle ahead (12.82 ns, 10.96 of it routing). The copies:
        :func:`hw.keep.kept_copies`."""
        config = self.config
        lanes = config.batch
        accumulator_shape = lane_shape(config.acc_width, lanes)
        if write_ahead:
            write = _LaneWriteAhead(
                row=Signal(config.local_row_bits, name=f"{name}_write_row"),
                accumulate=Signal(name=f"{name}_accumulate"), clear=Signal(name=f"{name}_clear"),
                total=Signal(accumulator_shape, name=f"{name}_total"))
        else:
            write = _PortSignals(addr=Signal(config.local_row_bits, name=f"{name}_write_row"),
                                 data=Signal(accumulator_shape, name=f"{name}_write_data"),
                                 en=Signal(name=f"{name}_write_enable"))
        read = _PortSignals(addr=Signal(config.local_row_bits, name=f"{name}_read_row"),
                            data=Signal(accumulator_shape, name=f"{name}_read_data"))
        rows = kept_copies(m, read.addr, lanes, name=f"{name}_row_of_lane")
        if write_ahead:
            write_rows = kept_copies(m, write.row, lanes, name=f"{name}_write_row_of_lane")
            accumulates = kept_copies(m, write.accumulate, lanes,
                                      name=f"{name}_accumulate_of_lane")
            enables = kept_copies(m, write.accumulate | write.clear, lanes,
                                  name=f"{name}_write_enable_of_lane")
            lane_writes = [(row, Mux(accumulate, total, 0), enable) for row, accumulate, total,
                           enable in zip(write_rows, accumulates, lanes_of(write.total, lanes),
                                         enables, strict=True)]
        else:
            lane_writes = [(write.addr, data, write.en) for data in lanes_of(write.data, lanes)]
        for lane, (row, lane_read, (write_row, write_data, write_enable)) in enumerate(zip(
                rows, lanes_of(read.data, lanes), lane_writes, strict=True)):
            m.submodules[f"{name}_lane{lane}"] = memory = Memory(
                shape=signed(config.acc_width), depth=config.local_rows, init=[])
            lane_read_port, lane_write_port = memory.read_port(domain="comb"), memory.write_port()
            m.d.comb += [lane_read_port.addr.eq(row), lane_read.eq(lane_read_port.data),
                         lane_write_port.addr.eq(write_row), lane_write_port.data.eq(write_data),
                         lane_write_port.en.eq(write_enable)]
        return write, read

    def _bank_selects(self, m, bank):
        """Whether accumulator bank ``bank`` computes, and whether it is read out (both
        constant with one bank). Whether it computes is a register of this PE's own, a cycle
        behind the engine's: a run's first product is written back several cycles after its
        start sets the bank, and one engine register driving every PE's write enables was the
        ULX3S's worst path (18.6 ns of routing). Whether it is read out must hold from the
        read-out's first cycle, so it is the engine's."""
        if self.config.accumulator_banks == 1:
            return 1, 1
        computing = Signal(name=f"computing{bank}")
        m.d.sync += computing.eq(self.compute_bank == bank)
        return computing, self.readout_bank == bank

    def _codebook_lookup(self, m, code):
        """The codebook value of ``code`` one cycle later: a register after the engine's shared
        codebook, or this PE's block RAM copy (written through ``codebook_write``) read at
        ``code``."""
        config = self.config
        if config.codebook_memory == "registers":
            weight = Signal(signed(config.codebook_width))
            m.d.sync += weight.eq(Array(self.codebook)[code])
            return weight
        # ram_style: 128 bits would stay in flip-flops, which is what this choice avoids
        m.submodules.codebook = codebook = CollisionFreeMemory(
            shape=signed(config.codebook_width), depth=config.CODEBOOK_SIZE,
            init=self._codebook_init, attrs={"ram_style": "block"})
        read, write = codebook.read_port(), codebook.write_port()
        request = self.codebook_write
        m.d.comb += [read.addr.eq(code), write.addr.eq(request.address),
                     write.data.eq(request.data), write.en.eq(request.enable)]
        return read.data

    def _pointer_memories(self, m, read_address):
        """The start and end pointer memories, read at ``read_address`` and written through
        ``pointer_write`` (``col_ptr[address] = data``: the start of column ``address`` and the
        end of column ``address - 1``); returns both read data."""
        config, request = self.config, self.pointer_write
        in_range = request.address < config.columns_stored
        starts = _model_memory(
            m, "starts", config.pointer_memory, width=config.pointer_width,
            depth=config.columns_stored, init=self._pointer_init[:-1],
            read_address=read_address, writing=request.enable, write_address=request.address,
            write_data=request.data, write_enable=request.enable & in_range)
        ends = _model_memory(
            m, "ends", config.pointer_memory, width=config.pointer_width,
            depth=config.columns_stored, init=self._pointer_init[1:],
            read_address=read_address, writing=request.enable,
            write_address=request.address - 1, write_data=request.data,
            write_enable=request.enable & (request.address != 0))
        return starts, ends

    def _entry_memory(self, m, read_address):
        """The entry memory, read at ``read_address`` (answered next cycle) and written through
        ``entry_write``; returns the read data."""
        config, write = self.config, self.entry_write
        return _model_memory(
            m, "entries", config.entry_memory, width=config.entry_width,
            depth=config.entry_depth, init=self._entry_init, read_address=read_address,
            writing=write.enable, write_address=write.address, write_data=write.data,
            write_enable=write.enable)


def _model_memory(m, name, kind, *, width, depth, init, read_address, writing, write_address,
                  write_data, write_enable):
    """A memory of the model added to ``m`` as ``name``, read at ``read_address`` (answered
    the next cycle); returns the read data. ``kind`` ``"block"``: a ``Memory`` with a read and a
    write port, initialized with ``init``. ``"spram"``: :class:`hw.spram.SPRAM`, one port, so
    its address is the write's while ``writing`` (writes come only while the engine is idle,
    loading) and ``init`` is not used (SPRAM has no initial contents)."""
    if kind == "spram":
        m.submodules[name] = memory = SPRAM(width=width, depth=depth)
        m.d.comb += [memory.address.eq(Mux(writing, write_address, read_address)),
                     memory.write_data.eq(write_data),
                     memory.write_enable.eq(write_enable)]
        return memory.read_data
    m.submodules[name] = memory = CollisionFreeMemory(shape=width, depth=depth, init=init)
    read, write = memory.read_port(), memory.write_port()
    m.d.comb += [read.addr.eq(read_address), write.addr.eq(write_address),
                 write.data.eq(write_data), write.en.eq(write_enable)]
    return read.data


@dataclass(frozen=True)
class _LaneWriteAhead:
    """The write of a bank of lane accumulators (:meth:`ProcessingElement._lane_accumulators`),
    given a cycle ahead but for the total: the row to write, whether it is an entry's write back
    (``total``, given in the cycle it is written) or a clear (zeros)."""

    row: Signal
    accumulate: Signal
    clear: Signal
    total: Signal


@dataclass(frozen=True)
class _PortSignals:
    """The signals of a memory port that :meth:`ProcessingElement._lane_accumulators` stands in
    for (``en`` on the write side only)."""

    addr: Signal
    data: object
    en: Signal = None


def _write_signature(address_bits, data_bits):
    return wiring.Signature({
        "address": Out(address_bits), "data": Out(data_bits), "enable": Out(1)})
