"""Set-associative hypothesis table of the Viterbi unit, bit-exact with
``sw.golden.viterbi.HypothesisTable`` (the insert rule) and ``sw.golden.viterbi._Search.offer``
(when a word is traced).

Two banks (current and next frame) share one memory per way; the bank is the address's top
bit. Valid bits live in flip-flops, so ``swap`` makes the old current bank the new, empty next
bank in one cycle. An insert reads its set (every way at once) in the cycle it is accepted and
decides and writes in the next; the read port is transparent to the write port and the valid
bits are registers, so back-to-back inserts into the same set see each other: one insert per
cycle, no stall, no forwarding network.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.config import ViterbiConfig

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

    ``inserts`` (always ready) offers hypotheses to the next bank; one cycle later ``decided``
    pulses with the :class:`InsertOutcome` in ``decision``. A changing insert whose arc has a
    word appends ``(trace_word, trace_parent)`` at ``trace_next`` (``trace_append``) and stores
    that pointer, or pulses ``trace_lost`` when ``trace_full``. ``read_set`` with ``read_next``
    (0 = current bank, 1 = next bank) reads every way of one set with one cycle of latency.
    ``swap`` exchanges the banks and empties the new next bank; it must not coincide with an
    insert in flight (``busy``).

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
            memory = Memory(shape=layout, depth=2 * sets, init=[])
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

        # Stage 1: read the offered hypothesis's set of the next bank.
        offered = Signal(insert_layout(config))
        target_set = Signal(set_bits)
        pending = Signal()
        new_set = set_of(self.inserts.payload.state, config)
        accept = Signal()
        m.d.comb += [self.inserts.ready.eq(1), accept.eq(self.inserts.valid),
                     self.busy.eq(pending)]
        for port in insert_reads:
            m.d.comb += port.addr.eq(self._address(new_set, next_bank))
        m.d.sync += pending.eq(accept)
        with m.If(accept):
            m.d.sync += [offered.eq(self.inserts.payload), target_set.eq(new_set)]

        # The set's valid bits are picked out of the flip-flops in stage 1, next to the memory
        # read, so the wide multiplexer is not in series with stage 2's decision. The insert
        # deciding now may fill a way of the same set: its bit is forwarded.
        next_valid = Signal(sets * ways)
        m.d.comb += next_valid.eq(valid[1])
        with m.If(bank):
            m.d.comb += next_valid.eq(valid[0])
        set_valid = Signal(ways)  # registered: the valid bits of the set in stage 2
        filling = Signal(ways)  # the way stage 2 writes now, as a one-hot vector
        write_way = Signal(range(ways))
        do_write = Signal()
        m.d.comb += filling.eq(Mux(pending & do_write, Const(1, ways) << write_way, 0))
        with m.If(accept):
            m.d.sync += set_valid.eq(next_valid.word_select(new_set, ways)
                                     | Mux(target_set == new_set, filling, 0))

        # Stage 2: compare every way in parallel and decide.
        way_valid = [set_valid[w] for w in range(ways)]
        entries = [layout(port.data) for port in insert_reads]
        match = [Signal(name=f"match{w}") for w in range(ways)]
        for way in range(ways):
            m.d.comb += match[way].eq(way_valid[way] & (entries[way].state == offered.state))
        # Lowest matching / free way: the last assignment in reverse order wins.
        chosen_match = Signal(range(ways))
        chosen_cost = Signal(config.cost.cost_width)
        any_match = Signal()
        chosen_free = Signal(range(ways))
        any_free = Signal()
        for way in reversed(range(ways)):
            with m.If(match[way]):
                m.d.comb += [chosen_match.eq(way), chosen_cost.eq(entries[way].cost),
                             any_match.eq(1)]
            with m.If(~way_valid[way]):
                m.d.comb += [chosen_free.eq(way), any_free.eq(1)]
        # Worst way (highest cost; ties keep the lowest index): a tree of pairwise picks, the
        # right one only when strictly higher, so log2(ways) comparators deep.
        candidates = [(Const(way, range(ways)), entries[way].cost) for way in range(ways)]
        level = 0
        while len(candidates) > 1:
            paired = []
            for index in range(0, len(candidates) - 1, 2):
                (left_way, left_cost), (right_way, right_cost) = candidates[index:index + 2]
                name = f"worst_l{level}_{index // 2}"
                way_signal = Signal(range(ways), name=name)
                cost_signal = Signal(config.cost.cost_width, name=f"{name}_cost")
                higher = right_cost > left_cost
                m.d.comb += [way_signal.eq(Mux(higher, right_way, left_way)),
                             cost_signal.eq(Mux(higher, right_cost, left_cost))]
                paired.append((way_signal, cost_signal))
            if len(candidates) % 2:
                paired.append(candidates[-1])
            candidates, level = paired, level + 1
        worst_way, worst_cost = candidates[0]

        decision = Signal(3)
        with m.If(any_match):
            m.d.comb += write_way.eq(chosen_match)
            with m.If(offered.cost < chosen_cost):
                m.d.comb += [do_write.eq(1), decision.eq(InsertOutcome.UPDATE)]
            with m.Else():
                m.d.comb += decision.eq(InsertOutcome.UNCHANGED)
        with m.Elif(any_free):
            m.d.comb += [write_way.eq(chosen_free), do_write.eq(1),
                         decision.eq(InsertOutcome.INSERT)]
        with m.Elif(offered.cost < worst_cost):
            m.d.comb += [write_way.eq(worst_way), do_write.eq(1),
                         decision.eq(InsertOutcome.REPLACE)]
        with m.Else():
            m.d.comb += decision.eq(InsertOutcome.DROP)

        # A word is traced only when the insert changes the table (as in the golden model).
        has_word = Signal()
        stored_trace = Signal(config.trace_bits)
        m.d.comb += [has_word.eq(pending & do_write & (offered.word != 0)),
                     stored_trace.eq(offered.trace),
                     self.trace_word.eq(offered.word), self.trace_parent.eq(offered.trace)]
        with m.If(has_word):
            with m.If(self.trace_full):
                m.d.comb += self.trace_lost.eq(1)
            with m.Else():
                m.d.comb += [self.trace_append.eq(1), stored_trace.eq(self.trace_next)]

        m.d.comb += [self.decided.eq(pending), self.decision.eq(decision),
                     self.decided_cost.eq(offered.cost)]
        stored = Signal(layout)
        m.d.comb += [stored.state.eq(offered.state), stored.cost.eq(offered.cost),
                     stored.trace.eq(stored_trace), stored.has_eps.eq(offered.has_eps)]
        for way, port in enumerate(write_ports):
            m.d.comb += [port.addr.eq(self._address(target_set, next_bank)),
                         port.data.eq(stored),
                         port.en.eq(pending & do_write & (write_way == way))]
        with m.If(pending & do_write):
            for b in range(2):
                with m.If(next_bank == b):
                    m.d.sync += valid[b].bit_select(target_set * ways + write_way, 1).eq(1)

        with m.If(self.swap):
            m.d.sync += bank.eq(~bank)
            # The old current bank becomes the next one: empty it at once.
            for b in range(2):
                with m.If(bank == b):
                    m.d.sync += valid[b].eq(0)
        return m
