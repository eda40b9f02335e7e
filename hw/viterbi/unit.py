"""The Viterbi unit: one utterance's beam search over a CSR graph, bit-exact with
``sw.golden.viterbi.decode``.

Phases of an utterance (``start`` -> words out), each a state of the control FSM:

- **init**: empty both table banks, insert the start state, run the epsilon passes, swap.
- per frame: **fill** the score buffer from ``scores``; when fewer than
  ``config.trace_gc_threshold`` word-trace entries are free, **collect** the trace (mark the
  chains of the current bank's hypotheses, then sweep the unmarked entries onto the free list,
  in the golden model's order); **expand** every hypothesis of the current bank along its
  emitting arcs into the next bank; **epsilon** passes over the next bank; **swap** (the new
  current bank's best cost becomes the base subtracted on reading).
- **final**: pick the best final hypothesis (or the best one) and **trace** its words back.

The expansion path is a pipeline with one arc per cycle and no bubble between hypotheses::

    scan (table read, one hypothesis/cycle) -> queue (two entries) -> range (state memory)
      -> record (registered)
      -> issue (arc address) -> arc (arc memory) -> fetched (registered; graph cost added)
      -> score (score buffer) -> scored (registered; acoustic cost added) -> beam
      (order-exact threshold) -> table accept (set address) -> table fetch (set registered)
      -> table compare -> table decide (write)

Every block RAM's output goes into flip-flops before any arithmetic, because its clock-to-out
takes most of a cycle on both FPGAs.

Expansion reads the current bank and writes the next one, so it has no hazard. The epsilon
passes read and write the same bank in the golden model's order, so they take one hypothesis
at a time, let the pipeline drain and re-read the set before going on; only hypotheses whose
state has epsilon arcs (a bit kept in the table) are taken at all. A pass that changed the
table but settled it (every offer through the beam went to a state without epsilon arcs,
replaced nothing and left ``best`` alone: the golden model's rule) is not followed by another
(``config.skip_settled_passes``): on the digit loop that skips most second passes.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from hw.config import ViterbiConfig
from hw.memory import CollisionFreeMemory
from hw.viterbi.table import HypothesisTable, InsertOutcome, hypothesis_layout

__all__ = ["COUNTERS", "LoadTarget", "ViterbiUnit", "score_layout", "word_layout"]

COUNTER_BITS = 32
TOTAL_COST_BITS = 48

# What the unit counts; the first ten are the golden model's Counters, in the same order.
COUNTERS = ("frames", "hypotheses_read", "arcs_expanded", "inserts", "updates",
            "replacements", "drops", "beam_pruned", "epsilon_limit_hit", "trace_collections",
            "cycles", "expand_cycles", "expand_arcs", "epsilon_cycles", "collect_cycles")


class LoadTarget:
    """Which graph memory a ``graph_load`` beat writes."""

    STATES = 0
    ARCS = 1


def _record_layout(fields) -> data.StructLayout:
    return data.StructLayout(dict(fields))


def score_layout(config: ViterbiConfig) -> data.StructLayout:
    """A ``scores`` beat: one pdf's cost; ``frame_end`` on a frame's last pdf; a beat with
    ``utterance_end`` (its cost ignored) ends the utterance between frames."""
    return data.StructLayout({"cost": config.cost.cost_width, "frame_end": 1,
                              "utterance_end": 1})


def word_layout(config: ViterbiConfig) -> data.StructLayout:
    """A ``words`` beat: the best path's words, last word first, then one beat with ``end``."""
    return data.StructLayout({"word": config.word_bits, "end": 1})


def load_layout(config: ViterbiConfig) -> data.StructLayout:
    """A ``graph_load`` beat: memory (:class:`LoadTarget`), address, packed record."""
    state_width = sum(width for _, width in config.state_record_fields)
    arc_width = sum(width for _, width in config.arc_record_fields)
    address_bits = max(config.state_bits, config.arc_bits)
    return data.StructLayout({"target": 1, "addr": address_bits,
                              "data": max(state_width, arc_width)})


def _saturating_add(m, a, b, width, name):
    """``min(a + b, 2**width - 1)`` as a new signal."""
    total = Signal(width + 1, name=f"{name}_sum")
    result = Signal(width, name=name)
    m.d.comb += [total.eq(a + b), result.eq(Mux(total[width], (1 << width) - 1, total))]
    return result


class ViterbiUnit(wiring.Component):
    """Viterbi beam search with a set-associative hypothesis table.

    Load the graph through ``graph_load`` (state records at their state index, arc records in
    the order of ``sw.golden.viterbi_image``) and set ``start_state`` / ``start_has_eps``; pulse
    ``start``; stream every frame's pdf costs into ``scores`` and end with an
    ``utterance_end`` beat; read the words from ``words``. ``busy`` is high from ``start`` until
    the last word beat is taken; the counters, ``total_cost``, ``final_reached`` and
    ``trace_overflow`` then describe the utterance. While the unit waits for a frame's scores
    (``waiting``), ``peek_set`` selects a set of the current bank shown (one cycle later) on
    ``peek_entries`` and ``peek_valid``. With ``config.score_banks`` 2 the unit takes the next
    frame's scores while it searches this one: ``scores.ready`` then says nothing about where
    the search is, ``waiting`` does.

    Parameters
    ----------
    config : ViterbiConfig
        Table geometry, widths, beam, memory depths.
    graph : sw.golden.viterbi_image.ViterbiImage, optional
        Initial contents of the graph memories (packed state and arc records), so a board's
        bitstream holds its graph; ``graph_load`` can still overwrite them while idle.
    """

    def __init__(self, config: ViterbiConfig, *, graph=None):
        if not isinstance(config, ViterbiConfig):
            raise TypeError(f"config must be a ViterbiConfig, not {config!r}")
        if graph is not None and (len(graph.states) > config.max_states
                                  or len(graph.arcs) > config.max_arcs):
            raise ValueError(f"graph of {len(graph.states)} states and {len(graph.arcs)} arcs "
                             f"does not fit max_states {config.max_states}, max_arcs "
                             f"{config.max_arcs}")
        self.config = config
        self.graph = graph
        super().__init__({
            "graph_load": In(stream.Signature(load_layout(config))),
            "start_state": In(config.state_bits),
            "start_has_eps": In(1),
            "start": In(1),
            "scores": In(stream.Signature(score_layout(config))),
            "words": Out(stream.Signature(word_layout(config))),
            "busy": Out(1),
            "total_cost": Out(TOTAL_COST_BITS),
            "final_reached": Out(1),
            "trace_overflow": Out(1),
            "score_error": Out(1),
            "waiting": Out(1),
            "peek_set": In(max(1, config.set_bits)),
            "peek_entries": Out(data.ArrayLayout(hypothesis_layout(config), config.ways)),
            "peek_valid": Out(config.ways),
            "counters": Out(data.StructLayout({name: COUNTER_BITS for name in COUNTERS})),
        })

    def _free_list(self, m, *, list_empty, list_top, list_pop, trace_entry, trace_read_addr,
                   trace_write, inserts_run):
        """Build ``config.free_list``; return its ``clear()`` and ``push(entry)``.

        Both pop in the golden model's order: the sweep pushes the free entries upward, an
        append takes the last one pushed. ``list_pop`` (an append while the list is not empty)
        takes ``list_top``, and the next top must be ready the cycle after, for back-to-back
        appends.
        """
        config = self.config
        none = (1 << config.trace_bits) - 1
        if config.free_list == "linked":
            # Linked through the free entries' parent fields, as the golden model keeps it: no
            # memory of its own, but the head's successor is read from the trace memory, whose
            # output then feeds its own next address (one pop a cycle).
            head = Signal(config.trace_bits, init=none)
            link = Signal(config.trace_bits)  # the head's parent field: the entry after it
            link_on_port = Signal()  # the trace read port shows the head's parent (popped)
            head_link = Signal(config.trace_bits)
            # ``head == none``, kept in a register beside ``head``: as a comparator it ran
            # into the table's decision and the trace write (the iCEBreaker's worst path).
            empty = Signal(init=1)
            m.d.comb += [head_link.eq(Mux(link_on_port, trace_entry.parent, link)),
                         list_empty.eq(empty), list_top.eq(head)]
            # While inserts run, the port always reads the head's successor, so its address
            # does not wait for the table's decision; without an append the read is not used.
            with m.If(inserts_run):
                m.d.comb += trace_read_addr.eq(head_link)
            with m.If(list_pop):
                m.d.sync += [head.eq(head_link), empty.eq(head_link == none),
                             link_on_port.eq(1)]
            with m.Elif(link_on_port):
                m.d.sync += [link.eq(trace_entry.parent), link_on_port.eq(0)]

            def clear():
                m.d.sync += [head.eq(none), empty.eq(1), link_on_port.eq(0)]

            def push(entry):
                # the entry's parent becomes the old head (its word is dead); an entry is
                # never ``none`` (trace_bits leaves that pointer above every entry)
                m.d.comb += [trace_write.addr.eq(entry), trace_write.en.eq(1),
                             trace_write.data.word.eq(0), trace_write.data.parent.eq(head)]
                m.d.sync += [head.eq(entry), empty.eq(0), link.eq(head)]
            return clear, push

        # A stack in a memory of its own, the top in a register, so no memory output feeds an
        # address. The entry below the top is read ahead from the stack's size (a register)
        # twice: once as if this cycle pops, once as if it does not. The pop, late behind the
        # table's decision, then only selects between the two answers the cycle after; as a
        # read address it was the ECP5's worst path (into the block RAM's address setup).
        depth = 1 << (config.trace_depth - 1).bit_length()  # a power of two: addresses wrap
        m.submodules.free_stack = stack = CollisionFreeMemory(shape=config.trace_bits, depth=depth,
                                                              init=[])
        stack_write = stack.write_port()
        below_unless_popped, below_if_popped = stack.read_port(), stack.read_port()
        size = Signal(range(config.trace_depth + 1))
        top = Signal(config.trace_bits)
        pushing = Signal()
        popped = Signal()  # last cycle popped: the second read shows the entry below the top
        m.d.sync += popped.eq(list_pop)
        m.d.comb += [list_empty.eq(size == 0), list_top.eq(top),
                     below_unless_popped.addr.eq(Mux(pushing, size - 1, size - 2)),
                     below_if_popped.addr.eq(size - 3)]
        with m.If(list_pop):
            m.d.sync += [top.eq(Mux(popped, below_if_popped.data, below_unless_popped.data)),
                         size.eq(size - 1)]

        def clear():
            m.d.sync += size.eq(0)

        def push(entry):
            m.d.comb += [pushing.eq(1), stack_write.addr.eq(size), stack_write.data.eq(entry),
                         stack_write.en.eq(1)]
            m.d.sync += [top.eq(entry), size.eq(size + 1)]
        return clear, push

    def elaborate(self, platform):
        m = Module()
        config = self.config
        cost_width = config.cost.cost_width
        cost_max = config.cost_max
        ways = config.ways
        none = (1 << config.trace_bits) - 1
        state_layout = _record_layout(config.state_record_fields)
        arc_layout = _record_layout(config.arc_record_fields)
        trace_layout = data.StructLayout({"word": config.word_bits,
                                          "parent": config.trace_bits})

        m.submodules.table = table = HypothesisTable(config)
        m.submodules.state_memory = state_memory = CollisionFreeMemory(
            shape=state_layout, depth=config.max_states,
            init=[] if self.graph is None else [state_layout.from_bits(record)
                                                for record in self.graph.states])
        m.submodules.arc_memory = arc_memory = CollisionFreeMemory(
            shape=arc_layout, depth=config.max_arcs,
            init=[] if self.graph is None else [arc_layout.from_bits(record)
                                                for record in self.graph.arcs])
        # two banks: the bank is the address's top bit (no adder before the read address)
        m.submodules.score_memory = score_memory = CollisionFreeMemory(
            shape=cost_width, init=[], depth=config.max_pdfs if config.score_banks == 1
            else 2 << config.pdf_bits)
        m.submodules.trace_memory = trace_memory = CollisionFreeMemory(
            shape=trace_layout, depth=config.trace_depth, init=[])
        state_write, arc_write = state_memory.write_port(), arc_memory.write_port()
        state_read, arc_read = state_memory.read_port(), arc_memory.read_port()
        score_write, score_read = score_memory.write_port(), score_memory.read_port()
        trace_write, trace_read = trace_memory.write_port(), trace_memory.read_port()
        # One mark bit per trace entry, for the collector (a separate memory: one EBR on iCE40
        # at 4,096 entries, and the trace's word and parent are left alone while marking).
        m.submodules.mark_memory = mark_memory = CollisionFreeMemory(
            shape=1, depth=config.trace_depth, init=[])
        mark_write, mark_read = mark_memory.write_port(), mark_memory.read_port()

        counters = {name: Signal(COUNTER_BITS, name=f"count_{name}") for name in COUNTERS}
        for name, signal in counters.items():
            m.d.comb += self.counters[name].eq(signal)

        # ---- graph loading (idle only) ------------------------------------------------
        idle = Signal()
        beat = self.graph_load.payload
        m.d.comb += [self.graph_load.ready.eq(idle),
                     state_write.addr.eq(beat.addr), arc_write.addr.eq(beat.addr),
                     state_write.data.eq(beat.data), arc_write.data.eq(beat.data),
                     state_write.en.eq(self.graph_load.valid & idle
                                       & (beat.target == LoadTarget.STATES)),
                     arc_write.en.eq(self.graph_load.valid & idle
                                     & (beat.target == LoadTarget.ARCS))]

        # ---- utterance state -----------------------------------------------------------
        EXPAND, EPSILON, FINAL, COLLECT = 0, 1, 2, 3
        mode = Signal(2)
        best = Signal(cost_width)  # the beam's running best of the frame
        threshold = Signal(cost_width)  # best + beam, saturating
        base = Signal(cost_width)  # best cost of the current bank, subtracted on reading
        next_min = Signal(cost_width)  # best cost written to the next bank so far
        next_written = Signal()
        total = Signal(TOTAL_COST_BITS)
        overflow = Signal()
        pass_changed = Signal()
        pass_unsettled = Signal()
        m.d.comb += [self.total_cost.eq(total), self.trace_overflow.eq(overflow)]

        # ---- word-trace allocation: a free list (linked or a stack), high-water mark ------
        depth = config.trace_depth
        high_water = Signal(range(depth + 1))  # entries at and above were never used
        # ``high_water == depth``, kept in a register beside it: the comparator ran into the
        # table's decision (``trace_full``).
        high_water_full = Signal()
        free = Signal(range(depth + 1))  # entries an append can still take
        trace_entry = trace_layout(trace_read.data)
        # The free list (``config.free_list``, below) says whether it is empty and which entry
        # an append takes from it; the table takes that one, else the high-water entry.
        list_empty = Signal()
        list_top = Signal(config.trace_bits)
        list_pop = Signal()
        m.d.comb += [table.trace_next.eq(Mux(list_empty, high_water, list_top)),
                     table.trace_full.eq(list_empty & high_water_full),
                     list_pop.eq(table.trace_append & ~list_empty)]

        # ---- scan: hypotheses out of the table, in set-then-way order -----------------
        # A scan starts the cycle after the control asks for it (``scan_start`` is a
        # register): the control's decision, late behind the pipeline's idle test or a score
        # handshake, then ends in flip-flops instead of running on into the table's read
        # address and the scan's latch. ``scanning`` covers that cycle for the control.
        scan_start = Signal()
        scan_on = Signal()
        scanning = Signal()
        m.d.comb += scanning.eq(scan_start | scan_on)
        m.d.sync += scan_start.eq(0)  # a pulse: the control's start_scan sets it for a cycle
        scan_set = Signal(max(1, config.set_bits))
        # The table's scan port is addressed by ``scan_set`` itself (a register), so no
        # decision of the scan runs into it; after the set moves, the port shows the new one a
        # cycle later (``port_fresh``): a set takes at least two cycles.
        scan_moved = Signal()
        port_fresh = Signal()
        m.d.sync += port_fresh.eq(~scan_moved)
        sets_left = Signal()
        mask = Signal(ways)
        entries = Signal(data.ArrayLayout(table.read_entries.shape().elem_shape, ways))
        waiting = Signal()  # epsilon pass: one hypothesis in flight, set to be re-read
        resume_after = Signal(range(ways + 1))  # epsilon pass: ways at or below are done
        latch_due = Signal()  # epsilon pass: the read port shows scan_set, latch it
        pipeline_idle = Signal()
        idle_before = Signal()
        m.d.sync += idle_before.eq(pipeline_idle)
        # Between frames the scan is idle and the read port shows the current bank at
        # ``peek_set``: what the tests compare with the golden model's tables.
        peeking = Signal()
        m.d.comb += [table.read_set.eq(Mux(peeking, self.peek_set, scan_set)),
                     table.read_next.eq(~peeking & (mode == EPSILON)),
                     self.peek_entries.eq(table.read_entries),
                     self.peek_valid.eq(table.read_valid)]

        lowest = Signal(range(max(ways, 2)))
        for way in reversed(range(ways)):
            with m.If(mask[way]):
                m.d.comb += lowest.eq(way)
        emitted = entries[lowest]
        sink_ready = Signal()
        emit = Signal()
        m.d.comb += emit.eq(scan_on & (mask != 0) & sink_ready & ~waiting)
        mask_after = Signal(ways)
        m.d.comb += mask_after.eq(Mux(emit, mask & ~(Const(1, ways) << lowest), mask))
        # ``mask_after == 0``, from the mask's own bits: an emit leaves none when one was left.
        # Through the priority encoder and the clearing, the emit ran on into the latch's
        # enable, the iCEBreaker's worst path (33.2 ns, 9 logic levels).
        one_left = Signal()
        m.d.comb += one_left.eq(Cat(*(mask == 1 << way for way in range(ways))).any())
        runs_out = Signal()
        m.d.comb += runs_out.eq((mask == 0) | (emit & one_left))
        scan_done = Signal()
        m.d.comb += scan_done.eq(scan_on & ~sets_left & (mask == 0) & ~waiting & ~latch_due)

        above = Signal(ways)  # ways after resume_after
        for way in range(ways):
            m.d.comb += above[way].eq(way >= resume_after)
        has_eps = Cat(*(table.read_entries[way].has_eps for way in range(ways)))
        last_set = scan_set == config.sets - 1

        with m.If(scan_start):
            m.d.sync += [scan_on.eq(1), sets_left.eq(1), mask.eq(0), waiting.eq(0),
                         resume_after.eq(0), latch_due.eq(1)]
            m.d.comb += scan_moved.eq(1)
            m.d.sync += scan_set.eq(0)
        with m.Elif(scan_on & (mode != EPSILON)):
            # Latch the set the port shows the cycle the mask runs out (or once the port
            # shows it).
            m.d.sync += mask.eq(mask_after)
            with m.If(sets_left & runs_out & port_fresh):
                m.d.sync += [mask.eq(table.read_valid), entries.eq(table.read_entries),
                             latch_due.eq(0)]
                with m.If(last_set):
                    m.d.sync += sets_left.eq(0)
                with m.Else():
                    m.d.comb += scan_moved.eq(1)
                    m.d.sync += scan_set.eq(scan_set + 1)
        with m.Elif(scan_on):
            with m.If(latch_due):
                # The set as it is now, its ways after the last one taken, epsilon ones only.
                with m.If(port_fresh):
                    m.d.sync += [mask.eq(table.read_valid & has_eps & above),
                                 entries.eq(table.read_entries), latch_due.eq(0)]
            with m.Elif(waiting):
                with m.If(pipeline_idle & idle_before):
                    m.d.sync += [waiting.eq(0), latch_due.eq(1)]
            with m.Elif(emit):
                m.d.sync += [waiting.eq(1), mask.eq(0), resume_after.eq(lowest + 1)]
            with m.Elif(mask == 0):
                with m.If(last_set):
                    m.d.sync += sets_left.eq(0)
                with m.Else():
                    m.d.comb += scan_moved.eq(1)
                    m.d.sync += [scan_set.eq(scan_set + 1), resume_after.eq(0),
                                 latch_due.eq(1)]
        with m.If(scan_done):
            m.d.sync += scan_on.eq(0)

        # ---- queue: the scan's hypotheses wait in a two-entry FIFO ------------------------
        # Its ``w_rdy`` is the scan's ready: a register's comparison, so the pipeline's
        # backpressure (issue -> record -> range) no longer runs into the scan's next-set
        # decision and on into the table's read address. Two entries keep one hypothesis a
        # cycle flowing while the range stage takes one a cycle.
        queued_layout = data.StructLayout({"state": config.state_bits, "cost": cost_width,
                                           "trace": config.trace_bits})
        m.submodules.queue = queue = SyncFIFO(width=queued_layout.size, depth=2)
        queued, queue_head = queued_layout(queue.w_data), queued_layout(queue.r_data)
        chase_ready = Signal()  # collection: the mark stage takes a new chain
        m.d.comb += [sink_ready.eq(Mux(mode == COLLECT, chase_ready, queue.w_rdy)),
                     queue.w_en.eq(emit & (mode != COLLECT)),
                     queued.state.eq(emitted.state), queued.trace.eq(emitted.trace),
                     queued.cost.eq(Mux(mode == EPSILON, emitted.cost, emitted.cost - base))]

        # ---- range: the hypothesis's state record --------------------------------------
        range_valid = Signal()
        range_cost = Signal(cost_width)
        range_trace = Signal(config.trace_bits)
        record = state_layout(state_read.data)
        range_moves = Signal()  # the record stage takes the hypothesis and its record
        range_takes = Signal()
        m.d.comb += [range_takes.eq(queue.r_rdy & (~range_valid | range_moves)),
                     queue.r_en.eq(range_takes),
                     state_read.addr.eq(queue_head.state), state_read.en.eq(range_takes)]
        with m.If(range_takes):
            m.d.sync += [range_valid.eq(1), range_trace.eq(queue_head.trace),
                         range_cost.eq(queue_head.cost)]
        with m.Elif(range_moves):
            m.d.sync += range_valid.eq(0)

        # ---- record: the state record registered, so the block RAM's slow output feeds
        # flip-flops only (not the range comparison, not the final cost's adder) ----------
        held_valid = Signal()
        held_cost = Signal(cost_width)
        held_trace = Signal(config.trace_bits)
        held_begin = Signal(config.arc_bits)
        held_end = Signal(config.arc_bits)
        held_final = Signal(cost_width)
        held_taken = Signal()
        m.d.comb += range_moves.eq(range_valid & (~held_valid | held_taken))
        with m.If(range_moves):
            m.d.sync += [held_valid.eq(1), held_cost.eq(range_cost), held_trace.eq(range_trace),
                         held_begin.eq(Mux(mode == EXPAND, record.begin, record.split)),
                         held_end.eq(Mux(mode == EXPAND, record.split, record.end)),
                         held_final.eq(record.final)]
        with m.Elif(held_taken):
            m.d.sync += held_valid.eq(0)

        # ---- issue: one arc address per cycle -------------------------------------------
        have = Signal()
        cursor = Signal(config.arc_bits)
        cursor_end = Signal(config.arc_bits)
        issue_cost = Signal(cost_width)
        issue_trace = Signal(config.trace_bits)
        last_issue = Signal()
        # Whether the cursor is at the range's last arc is kept in a flip-flop, so the record
        # stage's hand-over (and the scan's ready behind it) does not wait for a comparator.
        at_last = Signal()
        m.d.comb += [last_issue.eq(have & at_last),
                     held_taken.eq(held_valid & ((mode == FINAL) | ~have | last_issue)),
                     arc_read.addr.eq(cursor)]
        with m.If(have):
            m.d.sync += [cursor.eq(cursor + 1), at_last.eq(cursor + 2 == cursor_end)]
            with m.If(last_issue):
                m.d.sync += have.eq(0)
        with m.If(held_taken & (mode != FINAL)):
            m.d.sync += [cursor.eq(held_begin), cursor_end.eq(held_end),
                         have.eq(held_begin != held_end), at_last.eq(held_begin + 1 == held_end),
                         issue_cost.eq(held_cost),
                         issue_trace.eq(held_trace)]

        # ---- arc: graph cost added; score buffer addressed by the arc's pdf -------------
        arc = arc_layout(arc_read.data)
        arc_valid = Signal()
        arc_cost_in = Signal(cost_width)
        arc_trace = Signal(config.trace_bits)
        m.d.sync += [arc_valid.eq(have), arc_cost_in.eq(issue_cost), arc_trace.eq(issue_trace)]
        # The arc record is registered before any arithmetic (block RAM output -> flip-flops).
        fetched_valid = Signal()
        fetched = Signal(arc_layout)
        fetched_cost_in = Signal(cost_width)
        fetched_trace = Signal(config.trace_bits)
        m.d.sync += [fetched_valid.eq(arc_valid), fetched.eq(arc), fetched_cost_in.eq(arc_cost_in),
                     fetched_trace.eq(arc_trace)]
        search_bank = Signal()  # the bank of the frame searched now (two banks)
        m.d.comb += score_read.addr.eq(fetched.pdf if config.score_banks == 1
                                       else Cat(fetched.pdf, search_bank))
        with_arc = _saturating_add(m, fetched_cost_in, fetched.cost, cost_width, "with_arc")

        # An offered hypothesis moves through three registered stages: the arc's cost added
        # while its pdf's score is read, the score registered (a block RAM output goes into
        # flip-flops before arithmetic), then the beam. ``cost`` is the cost so far: without
        # the score until the beam stage adds it (frame expansion; epsilon arcs have none).
        offer = data.StructLayout({"valid": 1, "cost": cost_width, "dest": config.state_bits,
                                   "word": config.word_bits, "has_eps": 1,
                                   "trace": config.trace_bits})
        score_stage = Signal(offer)
        m.d.sync += [score_stage.valid.eq(fetched_valid), score_stage.cost.eq(with_arc),
                     score_stage.dest.eq(fetched.dest), score_stage.word.eq(fetched.word),
                     score_stage.has_eps.eq(fetched.dest_has_eps),
                     score_stage.trace.eq(fetched_trace)]
        scored_stage = Signal(offer)
        scored_score = Signal(cost_width)
        m.d.sync += [scored_stage.eq(score_stage), scored_score.eq(score_read.data)]
        with_score = _saturating_add(m, scored_stage.cost, scored_score, cost_width,
                                     "with_score")

        # ---- beam: order-exact threshold on the frame's running best ------------------
        beam = Signal(offer)
        m.d.sync += [beam.eq(scored_stage),
                     beam.cost.eq(Mux(mode == EXPAND, with_score, scored_stage.cost))]
        # The threshold ``best + beam`` (saturating) is a register that moves with ``best``:
        # the offer's own threshold is summed beside the comparison, so the path into the
        # table's accept is one comparator of two registers, not an adder and a comparator.
        passes_beam = Signal()
        offered_threshold = _saturating_add(m, beam.cost, Const(config.beam, cost_width),
                                            cost_width, "offered_threshold")
        m.d.comb += passes_beam.eq(beam.cost <= threshold)
        # A cost below the best is within the beam too (the beam is not negative).
        with m.If(beam.valid & (beam.cost < best)):
            m.d.sync += [best.eq(beam.cost), threshold.eq(offered_threshold)]
        # Counted a cycle late, so the comparison drives one flip-flop, not a 32-bit adder.
        pruned = Signal()
        m.d.sync += pruned.eq(beam.valid & ~passes_beam)
        with m.If(pruned):
            m.d.sync += counters["beam_pruned"].eq(counters["beam_pruned"] + 1)

        insert_start = Signal()  # the start state, before frame 0: no beam, cost 0
        with m.If(insert_start):
            m.d.comb += [table.inserts.valid.eq(1),
                         table.inserts.payload.state.eq(self.start_state),
                         table.inserts.payload.cost.eq(0),
                         table.inserts.payload.trace.eq(none),
                         table.inserts.payload.has_eps.eq(self.start_has_eps)]
        with m.Else():
            m.d.comb += [table.inserts.valid.eq(beam.valid & passes_beam),
                         table.inserts.payload.state.eq(beam.dest),
                         table.inserts.payload.cost.eq(beam.cost),
                         table.inserts.payload.trace.eq(beam.trace),
                         table.inserts.payload.has_eps.eq(beam.has_eps),
                         table.inserts.payload.word.eq(beam.word)]

        ending_valid = Signal()  # the final stage's compare (below) has a hypothesis
        m.d.comb += pipeline_idle.eq(~queue.r_rdy & ~range_valid & ~held_valid & ~have
                                     & ~arc_valid & ~fetched_valid & ~score_stage.valid
                                     & ~scored_stage.valid & ~beam.valid & ~table.busy & ~emit
                                     & ~ending_valid)

        # ---- table outcomes: counters, the next bank's best, the word trace -------------
        changed = Signal()
        m.d.comb += changed.eq(table.decided & (table.decision != InsertOutcome.UNCHANGED)
                               & (table.decision != InsertOutcome.DROP))
        for code, name in ((InsertOutcome.INSERT, "inserts"), (InsertOutcome.UPDATE, "updates"),
                           (InsertOutcome.REPLACE, "replacements"),
                           (InsertOutcome.DROP, "drops")):
            with m.If(table.decided & (table.decision == code)):
                m.d.sync += counters[name].eq(counters[name] + 1)
        with m.If(changed):
            m.d.sync += [pass_changed.eq(1), next_written.eq(1)]
            with m.If(~next_written | (table.decided_cost < next_min)):
                m.d.sync += next_min.eq(table.decided_cost)
        # A pass is unsettled (the next one could change the table) by an offer through the
        # beam to a state with epsilon arcs or below ``best``, or by a replacement.
        with m.If((mode == EPSILON) & config.skip_settled_passes & (
                (beam.valid & passes_beam & (beam.has_eps | (beam.cost < best)))
                | (table.decided & (table.decision == InsertOutcome.REPLACE)))):
            m.d.sync += pass_unsettled.eq(1)
        m.d.comb += [trace_write.addr.eq(table.trace_next), trace_write.en.eq(table.trace_append),
                     trace_write.data.word.eq(table.trace_word),
                     trace_write.data.parent.eq(table.trace_parent)]
        pointer = Signal(config.trace_bits)  # traceback: the entry being read
        trace_read_addr = Signal(config.trace_bits)
        m.d.comb += [trace_read.addr.eq(trace_read_addr), trace_read_addr.eq(pointer)]
        inserts_run = Signal()
        with m.If(table.trace_append):
            m.d.sync += free.eq(free - 1)
            with m.If(list_empty):
                m.d.sync += [high_water.eq(high_water + 1),
                             high_water_full.eq(high_water == depth - 1)]
        clear_free_list, push_free = self._free_list(
            m, list_empty=list_empty, list_top=list_top, list_pop=list_pop,
            trace_entry=trace_entry, trace_read_addr=trace_read_addr, trace_write=trace_write,
            inserts_run=inserts_run)
        with m.If(table.trace_lost):
            m.d.sync += overflow.eq(1)

        with m.If(emit & (mode == EXPAND)):
            m.d.sync += counters["hypotheses_read"].eq(counters["hypotheses_read"] + 1)
        with m.If(have):
            m.d.sync += counters["arcs_expanded"].eq(counters["arcs_expanded"] + 1)

        # ---- final: best final hypothesis, else best hypothesis --------------------------
        # one per line: Amaranth names a signal after its variable, which a tuple hides
        final_seen = Signal()
        final_cost = Signal(cost_width)
        final_trace = Signal(config.trace_bits)
        any_seen = Signal()
        any_cost = Signal(cost_width)
        any_trace = Signal(config.trace_bits)
        with m.If(held_taken & (mode == FINAL)):
            with m.If(~any_seen | (held_cost < any_cost)):
                m.d.sync += [any_seen.eq(1), any_cost.eq(held_cost), any_trace.eq(held_trace)]
        # A final hypothesis's cost with its final weight is registered before it is compared:
        # the saturating adder and the comparison after it, two carry chains in a row, were
        # the iCEBreaker's worst path (26.1 ns). The pipeline is idle only once it has been
        # compared, so the FINAL state reads the best a cycle later, once per utterance.
        ending = _saturating_add(m, held_cost, held_final, cost_width, "ending")
        ending_cost = Signal(cost_width)
        ending_trace = Signal(config.trace_bits)
        m.d.sync += [ending_valid.eq(held_taken & (mode == FINAL) & (held_final != cost_max)),
                     ending_cost.eq(ending), ending_trace.eq(held_trace)]
        with m.If(ending_valid & (~final_seen | (ending_cost < final_cost))):
            m.d.sync += [final_seen.eq(1), final_cost.eq(ending_cost),
                         final_trace.eq(ending_trace)]

        # ---- collection, mark: the scan hands over the current bank's hypotheses ---------
        # The mark stage follows one chain at a time, one entry every two cycles: the ports
        # show the entry read last cycle (its parent and mark bit), which is registered
        # (``seen``); the cycle after, an unmarked one is marked and its parent read next, a
        # marked one (or the chain's end) ends the chain and the next chain's first entry is
        # read in the same cycle. Registering the block RAM's output keeps it out of the next
        # address's logic. Marking is idempotent, so a read that misses a mark written in the
        # same cycle only costs cycles. The scan hands the chains' first entries over through a
        # two-entry FIFO, so its ready (and its next set address) does not wait for the chase.
        m.submodules.chain_starts = starts = SyncFIFO(width=config.trace_bits, depth=2)
        chasing = Signal()  # the ports show the entry at chase_at
        chase_at = Signal(config.trace_bits)
        seen = Signal()  # seen_marked / seen_parent hold the entry at chase_at
        seen_marked = Signal()
        seen_parent = Signal(config.trace_bits)
        chase_mark = Signal()  # the entry is unmarked: mark it
        chase_more = Signal()  # ... and it has a parent: follow it
        chase_start = Signal()
        m.d.sync += [seen.eq(chasing), seen_marked.eq(mark_read.data),
                     seen_parent.eq(trace_entry.parent)]
        m.d.comb += [chase_mark.eq(seen & ~seen_marked),
                     chase_more.eq(chase_mark & (seen_parent != none)),
                     starts.w_data.eq(emitted.trace),
                     starts.w_en.eq(emit & (mode == COLLECT) & (emitted.trace != none)),
                     chase_ready.eq(starts.w_rdy),
                     chase_start.eq(starts.r_rdy & ~chasing & ~chase_more),
                     starts.r_en.eq(chase_start)]
        mark_at = Signal(config.trace_bits)
        m.d.comb += [mark_at.eq(Mux(chase_more, seen_parent, starts.r_data)),
                     mark_read.addr.eq(mark_at)]
        with m.If(chase_more):
            m.d.sync += [chase_at.eq(seen_parent), chasing.eq(1)]
        with m.Elif(chase_start):
            m.d.sync += [chase_at.eq(starts.r_data), chasing.eq(1)]
        with m.Else():
            m.d.sync += chasing.eq(0)

        # ---- collection, sweep: index 0 .. high_water - 1 upward, one per cycle -----------
        sweep_index = Signal(range(depth + 1))  # the next entry to read
        sweep_at = Signal(config.trace_bits)  # the entry whose mark the port shows
        sweep_have = Signal()
        sweep_issue = Signal()
        # ``sweep_index != high_water``, a register (the comparator ran into the scan's start)
        sweep_more = Signal()
        # The mark is registered before it decides (clear the mark, or free the entry): the
        # block RAM's output then feeds flip-flops, not the free list's write and address.
        swept = Signal()
        swept_at = Signal(config.trace_bits)
        swept_marked = Signal()


        # ---- control ---------------------------------------------------------------------
        score_count = Signal(range(config.max_pdfs + 1))
        passes = Signal(range(config.max_epsilon_passes + 1))
        # Whether this pass is the last allowed, a register a cycle behind `passes`: the adder
        # and comparator ran on into the control's mode (the iCEBreaker's worst path, 30.5 ns).
        # A pass is decided only when drained, at least two cycles after `passes` changed.
        last_pass = Signal()
        m.d.sync += last_pass.eq(passes + 1 == config.max_epsilon_passes)
        from_frame = Signal()  # the swap ends a frame (not the start-up)
        m.d.comb += score_write.data.eq(self.scores.payload.cost)
        with m.If(self.busy):
            m.d.sync += counters["cycles"].eq(counters["cycles"] + 1)

        # The control moves on once the search has drained: the scan and the pipeline were
        # idle last cycle with nothing started then, and no scan runs now (so nothing can have
        # entered since). A register: the pipeline's many valids ran on into the control's
        # state, the iCE40's worst path (32.1 ns); a state now ends at most a cycle later.
        kick = Signal()  # the control starts a scan, or inserts the start state, this cycle
        drained_before = Signal()
        m.d.sync += drained_before.eq(~scanning & pipeline_idle & ~kick)
        drained = Signal()
        m.d.comb += drained.eq(drained_before & ~scanning)

        def start_scan(new_mode):
            m.d.sync += [scan_start.eq(1), mode.eq(new_mode)]
            m.d.comb += kick.eq(1)

        def start_epsilon():
            start_scan(EPSILON)
            m.d.sync += [pass_changed.eq(0), pass_unsettled.eq(0)]

        def collect_mark_ports():
            m.d.comb += [trace_read_addr.eq(mark_at),
                         mark_write.addr.eq(chase_at), mark_write.data.eq(1),
                         mark_write.en.eq(chase_mark)]

        def take_score():
            """Store a (non-final) score beat's cost; beyond max_pdfs it is an error."""
            with m.If(score_count == config.max_pdfs):
                m.d.sync += self.score_error.eq(1)
            with m.Else():
                m.d.comb += score_write.en.eq(1)
                m.d.sync += score_count.eq(score_count + 1)
            with m.If(self.scores.payload.frame_end):
                m.d.sync += score_count.eq(0)

        def begin_frame():
            """A frame's scores are in: collect the trace if it runs short, then expand."""
            m.d.sync += [best.eq(cost_max), threshold.eq(cost_max), from_frame.eq(1)]
            with m.If(free < config.trace_gc_threshold):
                m.d.sync += counters["trace_collections"].eq(
                    counters["trace_collections"] + 1)
                start_scan(COLLECT)
                m.next = "COLLECT_MARK"
            with m.Else():
                start_scan(EXPAND)
                m.next = "EXPAND"

        def end_utterance():
            start_scan(FINAL)
            m.next = "FINAL"

        # Two banks: scores are taken into one bank whenever it is free, from start until the
        # utterance_end beat, independently of the control; the control searches the other.
        banks_full = Signal(2)  # a whole frame waits in (or is searched from) the bank
        fill_bank = Signal()
        intake_open = Signal()
        end_pending = Signal()  # the utterance_end beat was taken
        filled = Signal(2)  # the bank a frame's last score just went into
        released = Signal(2)  # the bank whose frame the search just finished
        if config.score_banks == 2:
            m.d.comb += [self.scores.ready.eq(intake_open & ~banks_full.bit_select(fill_bank, 1)),
                         score_write.addr.eq(Cat(score_count[:config.pdf_bits], fill_bank))]
            with m.If(self.scores.valid & self.scores.ready):
                with m.If(self.scores.payload.utterance_end):
                    with m.If(score_count != 0):
                        m.d.sync += self.score_error.eq(1)
                    m.d.sync += [intake_open.eq(0), end_pending.eq(1)]
                with m.Else():
                    take_score()
                    with m.If(self.scores.payload.frame_end):
                        m.d.comb += filled.eq(1 << fill_bank)
                        m.d.sync += fill_bank.eq(~fill_bank)
            m.d.sync += banks_full.eq((banks_full | filled) & ~released)

        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += idle.eq(1)
                with m.If(self.start):
                    m.d.sync += [counters[name].eq(0) for name in COUNTERS]
                    clear_free_list()
                    m.d.sync += [total.eq(0), high_water.eq(0), high_water_full.eq(0),
                                 free.eq(depth), overflow.eq(0),
                                 best.eq(cost_max), threshold.eq(cost_max),
                                 next_written.eq(0), passes.eq(0),
                                 from_frame.eq(0), score_count.eq(0),
                                 banks_full.eq(0), fill_bank.eq(0), search_bank.eq(0),
                                 intake_open.eq(1), end_pending.eq(0),
                                 self.score_error.eq(0), self.final_reached.eq(0),
                                 final_seen.eq(0), any_seen.eq(0)]
                    m.d.comb += table.swap.eq(1)
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                m.d.comb += [self.busy.eq(1), table.swap.eq(1)]
                m.next = "START_STATE"
            with m.State("START_STATE"):
                m.d.comb += [self.busy.eq(1), insert_start.eq(1), kick.eq(1)]
                m.next = "START_SETTLE"
            with m.State("START_SETTLE"):
                m.d.comb += [self.busy.eq(1), inserts_run.eq(1)]
                with m.If(drained):
                    start_epsilon()
                    m.next = "EPSILON"
            with m.State("FILL"):
                m.d.comb += [self.busy.eq(1), peeking.eq(1)]
                if config.score_banks == 1:
                    m.d.comb += [self.waiting.eq(1), self.scores.ready.eq(1),
                                 score_write.addr.eq(score_count)]
                    with m.If(self.scores.valid):
                        with m.If(self.scores.payload.utterance_end):
                            with m.If(score_count != 0):
                                m.d.sync += self.score_error.eq(1)
                            end_utterance()
                        with m.Else():
                            take_score()
                            with m.If(self.scores.payload.frame_end):
                                begin_frame()
                else:
                    searchable = banks_full.bit_select(search_bank, 1)
                    m.d.comb += self.waiting.eq(~searchable & ~end_pending)
                    with m.If(searchable):
                        begin_frame()
                    with m.Elif(end_pending):
                        m.d.sync += end_pending.eq(0)
                        end_utterance()
            with m.State("COLLECT_MARK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += counters["collect_cycles"].eq(counters["collect_cycles"] + 1)
                collect_mark_ports()
                with m.If(~scanning & ~chasing & ~seen & ~starts.r_rdy):
                    clear_free_list()
                    m.d.sync += [sweep_index.eq(0), sweep_more.eq(high_water != 0),
                                 sweep_have.eq(0), swept.eq(0), free.eq(depth - high_water)]
                    m.next = "COLLECT_SWEEP"
            with m.State("COLLECT_SWEEP"):
                m.d.comb += [self.busy.eq(1), sweep_issue.eq(sweep_more),
                             mark_read.addr.eq(sweep_index)]
                m.d.sync += [counters["collect_cycles"].eq(counters["collect_cycles"] + 1),
                             sweep_have.eq(sweep_issue), sweep_at.eq(sweep_index),
                             swept.eq(sweep_have), swept_at.eq(sweep_at),
                             swept_marked.eq(mark_read.data)]
                with m.If(sweep_issue):
                    m.d.sync += [sweep_index.eq(sweep_index + 1),
                                 sweep_more.eq(sweep_index + 1 != high_water)]
                with m.If(swept):
                    with m.If(swept_marked):
                        m.d.comb += [mark_write.addr.eq(swept_at), mark_write.data.eq(0),
                                     mark_write.en.eq(1)]
                    with m.Else():
                        push_free(swept_at)
                        m.d.sync += free.eq(free + 1)
                with m.If(~sweep_issue & ~sweep_have & ~swept):
                    start_scan(EXPAND)
                    m.next = "EXPAND"
            with m.State("EXPAND"):
                m.d.comb += [self.busy.eq(1), inserts_run.eq(1)]
                m.d.sync += counters["expand_cycles"].eq(counters["expand_cycles"] + 1)
                with m.If(have):
                    m.d.sync += counters["expand_arcs"].eq(counters["expand_arcs"] + 1)
                with m.If(drained):
                    m.d.sync += passes.eq(0)
                    start_epsilon()
                    m.next = "EPSILON"
            with m.State("EPSILON"):
                m.d.comb += [self.busy.eq(1), inserts_run.eq(1)]
                m.d.sync += counters["epsilon_cycles"].eq(counters["epsilon_cycles"] + 1)
                with m.If(drained):
                    with m.If(~pass_changed):
                        m.next = "SWAP"
                    with m.Elif(last_pass):
                        m.d.sync += counters["epsilon_limit_hit"].eq(
                            counters["epsilon_limit_hit"] + 1)
                        m.next = "SWAP"
                    with m.Elif(~pass_unsettled & config.skip_settled_passes):
                        # the next pass would change nothing
                        m.next = "SWAP"
                    with m.Else():
                        m.d.sync += passes.eq(passes + 1)
                        start_epsilon()
            with m.State("SWAP"):
                m.d.comb += [self.busy.eq(1), table.swap.eq(1)]
                new_base = Mux(next_written, next_min, 0)
                m.d.sync += [base.eq(new_base), total.eq(total + new_base),
                             next_written.eq(0), passes.eq(0)]
                with m.If(from_frame):
                    m.d.sync += counters["frames"].eq(counters["frames"] + 1)
                    if config.score_banks == 2:  # the searched frame's bank takes scores again
                        m.d.comb += released.eq(1 << search_bank)
                        m.d.sync += search_bank.eq(~search_bank)
                m.next = "FILL"
            with m.State("FINAL"):
                m.d.comb += self.busy.eq(1)
                with m.If(drained):
                    chosen_cost = Mux(final_seen, final_cost, Mux(any_seen, any_cost, 0))
                    m.d.sync += [total.eq(total + chosen_cost),
                                 self.final_reached.eq(final_seen),
                                 pointer.eq(Mux(final_seen, final_trace,
                                                Mux(any_seen, any_trace, none)))]
                    m.next = "TRACE_READ"
            with m.State("TRACE_READ"):
                m.d.comb += self.busy.eq(1)
                with m.If(pointer == none):
                    m.next = "TRACE_END"
                with m.Else():
                    m.next = "TRACE_WORD"
            with m.State("TRACE_WORD"):
                m.d.comb += [self.busy.eq(1), self.words.valid.eq(1),
                             self.words.payload.word.eq(trace_entry.word)]
                with m.If(self.words.ready):
                    m.d.sync += pointer.eq(trace_entry.parent)
                    m.next = "TRACE_READ"
            with m.State("TRACE_END"):
                m.d.comb += [self.busy.eq(1), self.words.valid.eq(1),
                             self.words.payload.end.eq(1)]
                with m.If(self.words.ready):
                    m.next = "IDLE"
        return m
