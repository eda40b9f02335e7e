"""Set-associative hypothesis table of the Viterbi unit, bit-exact with
``sw.golden.viterbi.HypothesisTable`` (the insert rule) and ``sw.golden.viterbi._Search.offer``
(when a word is traced).

Two banks (current and next frame) share one memory per way; the bank is the address's top
bit. Valid bits live in flip-flops, so ``swap`` makes the old current bank the new, empty next
bank in one cycle. An insert goes through four stages, one insert per cycle and no stall:
accept (address its set), fetch (register every way's entry and the set's valid bits),
compare (every comparison the rule needs, registered) and decide (pick the way, write). No
cycle holds a memory read and a comparator, or a comparator and the write. The read port is
transparent to the write port and the valid bits are registers, so the fetch sees every write
up to the cycle before; the write made in the same cycle (by the insert two ahead, deciding)
is forwarded into the fetched registers, and the one made while an insert compares (by the
insert just ahead) into its comparisons, so back-to-back inserts into the same set see each
other.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import ViterbiConfig
from hw.memory import CollisionFreeMemory

__all__ = ["HypothesisTable", "InsertOutcome", "hypothesis_layout", "insert_layout", "set_of"]


class InsertOutcome:
    """Codes of ``decision`` (what the golden model counts)."""

    UNCHANGED = 0  # same state, not better
    UPDATE = 1  # same state, lower cost
    INSERT = 2  # free way
    REPLACE = 3  # worst way evicted
    DROP = 4  # set full, not better than the worst


def hypothesis_layout(config: ViterbiConfig) -> data.StructLayout:
    """A stored hypothesis: state, relative cost, trace pointer, and whether the state has
    epsilon arcs (so the epsilon pass can skip it without a memory read)."""
    return data.StructLayout({"state": config.state_bits, "cost": config.cost.cost_width,
                              "trace": config.trace_bits, "has_eps": 1})


def insert_layout(config: ViterbiConfig) -> data.StructLayout:
    """An offered hypothesis: as stored, ``trace`` being the parent's pointer, plus the word
    of the arc taken (0 = none)."""
    return data.StructLayout({"state": config.state_bits, "cost": config.cost.cost_width,
                              "trace": config.trace_bits, "has_eps": 1,
                              "word": config.word_bits})


def set_of(state, config: ViterbiConfig):
    """The set index of ``state`` (an Amaranth value) under the configured hash."""
    bits = config.set_bits
    if bits == 0:
        return Const(0, 1)
    if config.hash == "multiplicative":
        return (state * 0x9E3779B1)[32 - bits:32]
    folded = Const(0, bits)
    for low in range(0, len(state), bits):
        folded = folded ^ state[low:low + bits]
    return folded


class HypothesisTable(wiring.Component):
    """``sets x ways`` hypotheses per bank, two banks.

    ``inserts`` (always ready) offers hypotheses to the next bank; three cycles later ``decided``
    pulses with the :class:`InsertOutcome` in ``decision``. A changing insert whose arc has a
    word appends ``(trace_word, trace_parent)`` at ``trace_next`` (``trace_append``) and stores
    that pointer, or pulses ``trace_lost`` when ``trace_full``. ``read_set`` with ``read_next``
    (0 = current bank, 1 = next bank) reads every way of one set with one cycle of latency.
    ``swap`` exchanges the banks and empties the new next bank; it must not coincide with an
    insert in flight (``busy``, high while an insert is past the accept stage).

    Parameters
    ----------
    config : ViterbiConfig
        Geometry, hash and widths.
    """

    def __init__(self, config: ViterbiConfig):
        if not isinstance(config, ViterbiConfig):
            raise TypeError(f"config must be a ViterbiConfig, not {config!r}")
        self.config = config
        layout = hypothesis_layout(config)
        set_bits = max(1, config.set_bits)
        super().__init__({
            "inserts": In(stream.Signature(insert_layout(config))),
            "decided": Out(1),
            "decision": Out(3),
            "decided_cost": Out(config.cost.cost_width),
            "trace_next": In(config.trace_bits),
            "trace_full": In(1),
            "trace_append": Out(1),
            "trace_word": Out(config.word_bits),
            "trace_parent": Out(config.trace_bits),
            "trace_lost": Out(1),
            "swap": In(1),
            "read_set": In(set_bits),
            "read_next": In(1),
            "read_entries": Out(data.ArrayLayout(layout, config.ways)),
            "read_valid": Out(config.ways),
            "busy": Out(1),
        })

    def _address(self, set_index, bank):
        if self.config.set_bits:
            return Cat(set_index[:self.config.set_bits], bank)
        return bank

    def elaborate(self, platform):
        m = Module()
        config = self.config
        sets, ways = config.sets, config.ways
        layout = hypothesis_layout(config)
        set_bits = max(1, config.set_bits)

        bank = Signal()  # which bank is "current"; the other one is being filled
        valid = [Signal(sets * ways, name=f"valid{b}") for b in range(2)]
        next_bank = Signal()
        m.d.comb += next_bank.eq(~bank)

        # One memory per way, both banks: address = {bank, set}.
        write_ports, insert_reads, scan_reads = [], [], []
        for way in range(ways):
            memory = CollisionFreeMemory(shape=layout, depth=2 * sets, init=[])
            m.submodules[f"way{way}"] = memory
            write = memory.write_port()
            write_ports.append(write)
            insert_reads.append(memory.read_port(transparent_for=(write,)))
            scan_reads.append(memory.read_port())

        # Scan reads (frame expansion: current bank; epsilon passes: next bank).
        read_set = Signal(set_bits)
        read_bank = Signal()
        m.d.sync += [read_set.eq(self.read_set), read_bank.eq(bank ^ self.read_next)]
        scanned_valid = Signal(sets * ways)
        m.d.comb += scanned_valid.eq(valid[0])
        with m.If(read_bank):
            m.d.comb += scanned_valid.eq(valid[1])
        for way, port in enumerate(scan_reads):
            m.d.comb += [port.addr.eq(self._address(self.read_set, bank ^ self.read_next)),
                         self.read_entries[way].eq(port.data),
                         self.read_valid[way].eq(scanned_valid.bit_select(
                             read_set * ways + way, 1))]

        # Stage 1 (accept): address the offered hypothesis's set of the next bank.
        accept = Signal()
        new_set = set_of(self.inserts.payload.state, config)
        m.d.comb += [self.inserts.ready.eq(1), accept.eq(self.inserts.valid)]
        for port in insert_reads:
            m.d.comb += port.addr.eq(self._address(new_set, next_bank))
        fetching = Signal()  # stage 2 holds an insert
        fetch_offered = Signal(insert_layout(config))
        fetch_set = Signal(set_bits)
        # The offer is registered every cycle, used only when ``fetching``: ``accept`` (late,
        # behind the beam's comparison) drives one flip-flop instead of every offer bit's enable.
        m.d.sync += [fetching.eq(accept), fetch_offered.eq(self.inserts.payload),
                     fetch_set.eq(new_set)]

        # Stage 4's registers: what the decision needs about the set as it will be when this
        # insert decides -- its valid bits and the outcome of every comparison. Stage 3 makes
        # the comparisons; stage 4 only combines registered bits, then writes.
        deciding = Signal()
        offered = Signal(insert_layout(config))
        target_set = Signal(set_bits)
        target_one_hot = Signal(sets)  # target_set decoded a cycle early (valid-bit enables)
        set_valid = Signal(ways)
        same_state = Signal(ways)  # the way holds the offered state (if valid)
        lower = Signal(ways)  # the offered cost is lower than the way's
        above = {}  # above[i, j], i < j: way j's cost is strictly higher than way i's
        for i in range(ways):
            for j in range(i + 1, ways):
                above[i, j] = Signal(name=f"above_{i}_{j}")

        # Stage 4's write (defined below), which stages 2 and 3 forward.
        write_now = Signal()  # deciding & the insert changes the table
        write_one_hot = Signal(ways)
        stored = Signal(layout)

        # Stage 2 (fetch): the read port shows the set with every write up to last cycle
        # (transparent); the valid bits come from the flip-flops, which also hold every write
        # up to last cycle. Both are registered as they are (the block RAM's output is slow),
        # with the write stage 4 makes now into the same set forwarded.
        next_valid = Signal(sets * ways)
        m.d.comb += next_valid.eq(valid[1])
        with m.If(bank):
            m.d.comb += next_valid.eq(valid[0])
        comparing = Signal()  # stage 3 holds an insert
        compare_offered = Signal(insert_layout(config))
        compare_set = Signal(set_bits)
        fetched = [Signal(layout, name=f"fetched{w}") for w in range(ways)]
        fetched_valid = Signal(ways)
        fetch_forward = Signal(ways)  # the way stage 4 writes now, if it is this set
        m.d.comb += fetch_forward.eq(Mux(write_now & (target_set == fetch_set), write_one_hot, 0))
        m.d.sync += [comparing.eq(fetching), compare_offered.eq(fetch_offered),
                     compare_set.eq(fetch_set),
                     fetched_valid.eq(next_valid.word_select(fetch_set, ways) | fetch_forward)]
        for way, port in enumerate(insert_reads):
            m.d.sync += fetched[way].eq(Mux(fetch_forward[way], stored, port.data))

        # Stage 3 (compare): every comparison at once, on registers. The write stage 4 makes
        # now into the same set is forwarded: the forwarded way's comparisons are made against
        # stage 4's offered hypothesis instead (every variant is compared; the late write
        # decision only selects).
        forwarded = Signal(ways)
        m.d.comb += forwarded.eq(Mux(write_now & (target_set == compare_set), write_one_hot, 0))
        m.d.sync += [deciding.eq(comparing), offered.eq(compare_offered),
                     target_set.eq(compare_set),
                     target_one_hot.eq(Const(1, sets) << compare_set),
                     set_valid.eq(fetched_valid | forwarded)]
        new_cost, new_state = compare_offered.cost, compare_offered.state
        for way in range(ways):
            m.d.sync += [
                same_state[way].eq(Mux(forwarded[way], new_state == offered.state,
                                       new_state == fetched[way].state)),
                lower[way].eq(Mux(forwarded[way], new_cost < offered.cost,
                                  new_cost < fetched[way].cost))]
        for (i, j), signal in above.items():
            m.d.sync += signal.eq(Mux(forwarded[j], offered.cost > fetched[i].cost,
                                      Mux(forwarded[i], fetched[j].cost > offered.cost,
                                          fetched[j].cost > fetched[i].cost)))
        m.d.comb += self.busy.eq(fetching | comparing | deciding)

        # Stage 4 (decide): a few levels of logic on registered bits pick the way: the same
        # decision as the golden model's sequential rule.
        match = Signal(ways)
        m.d.comb += match.eq(set_valid & same_state)
        # Lowest matching / free way, one-hot.
        first_match = Signal(ways)
        first_free = Signal(ways)
        free = ~set_valid
        for way in range(ways):
            m.d.comb += [first_match[way].eq(match[way] & ~match[:way].any() if way else
                                             match[way]),
                         first_free[way].eq(free[way] & ~free[:way].any() if way else
                                            free[way])]
        # Worst way (highest cost; ties keep the lowest index): way w is it when its cost is
        # strictly above every lower way's and not below any higher way's -- from the pairwise
        # comparisons, instead of a tree of log2(ways) comparators in series.
        worst_one_hot = Signal(ways)
        for way in range(ways):
            terms = [above[i, way] for i in range(way)] + [~above[way, j]
                                                          for j in range(way + 1, ways)]
            m.d.comb += worst_one_hot[way].eq(Cat(*terms).all() if terms else 1)
        any_match = match.any()
        any_free = free.any()
        # A full set's highest cost is above the offered one iff any way's is.
        improves = Mux(any_match, (first_match & lower).any(), lower.any())

        decision = Signal(3)
        with m.If(any_match):
            m.d.comb += decision.eq(Mux(improves, InsertOutcome.UPDATE, InsertOutcome.UNCHANGED))
        with m.Elif(any_free):
            m.d.comb += decision.eq(InsertOutcome.INSERT)
        with m.Else():
            m.d.comb += decision.eq(Mux(improves, InsertOutcome.REPLACE, InsertOutcome.DROP))
        m.d.comb += [write_now.eq(deciding & Mux(any_match, improves, any_free | improves)),
                     write_one_hot.eq(Mux(any_match, first_match,
                                          Mux(any_free, first_free, worst_one_hot)))]

        # A word is traced only when the insert changes the table (as in the golden model).
        # The stored pointer does not wait for the decision: without a write it is not used.
        appends = Signal()
        m.d.comb += [appends.eq((offered.word != 0) & ~self.trace_full),
                     self.trace_word.eq(offered.word), self.trace_parent.eq(offered.trace)]
        with m.If(write_now & (offered.word != 0)):
            m.d.comb += [self.trace_append.eq(~self.trace_full),
                         self.trace_lost.eq(self.trace_full)]

        m.d.comb += [self.decided.eq(deciding), self.decision.eq(decision),
                     self.decided_cost.eq(offered.cost)]
        m.d.comb += [stored.state.eq(offered.state), stored.cost.eq(offered.cost),
                     stored.trace.eq(Mux(appends, self.trace_next, offered.trace)),
                     stored.has_eps.eq(offered.has_eps)]
        for way, port in enumerate(write_ports):
            m.d.comb += [port.addr.eq(self._address(target_set, next_bank)),
                         port.data.eq(stored),
                         port.en.eq(write_now & write_one_hot[way])]
        # Each valid bit's enable is its set's decoded bit and its way's one-hot bit: no
        # sets * ways wide shifter after the decision.
        for b in range(2):
            for s in range(sets):
                for way in range(ways):
                    with m.If(write_now & (next_bank == b) & target_one_hot[s]
                              & write_one_hot[way]):
                        m.d.sync += valid[b][s * ways + way].eq(1)

        with m.If(self.swap):
            m.d.sync += bank.eq(~bank)
            # The old current bank becomes the next one: empty it at once.
            for b in range(2):
                with m.If(bank == b):
                    m.d.sync += valid[b].eq(0)
        return m
