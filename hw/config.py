"""The one configuration of an asrhw design, shared by hw/, sw/, sim/ and boards/.

Pure Python on purpose (no Amaranth import): the host tools, the golden models and the RTL all
read the same frozen objects, so a parameter cannot mean one thing in the model and another in
the hardware. Each class validates itself at construction and derives the dependent widths and
depths once, as properties, so nothing downstream recomputes them differently.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["ConfigError", "CostConfig", "LinkConfig", "SpMVConfig", "SystemConfig", "ViterbiConfig",
           "bits_for", "config_from_dict", "config_to_dict"]


class ConfigError(ValueError):
    """A configuration field is outside its allowed range; the message names field and value."""


def bits_for(value: int) -> int:
    """Number of bits of an unsigned field that must hold ``value`` (at least 1)."""
    return max(1, int(value).bit_length())


def check_int(owner: str, name: str, value: Any, lo: int, hi: int) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an ``int`` in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{owner}.{name} must be an int from {lo} to {hi}, not {value!r}")


def check_bool(owner: str, name: str, value: Any) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a ``bool``."""
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}.{name} must be a bool, not {value!r}")


def check_choice(owner: str, name: str, value: Any, choices: tuple) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{owner}.{name} must be one of {allowed}, not {value!r}")


@dataclass(frozen=True)
class SpMVConfig:
    """Parameters of the EIE-style sparse matrix-vector engine.

    Row ``i`` of a layer belongs to PE ``i % pes`` (local row ``i // pes``). Activations,
    biases and outputs are signed fixed point with ``act_frac`` fractional bits; codebook
    values are signed fixed point with ``codebook_frac`` fractional bits. The product of a
    weight and an activation therefore carries ``act_frac + codebook_frac`` fractional bits and
    is shifted right by ``codebook_frac`` (floor) before the bias is added.

    Parameters
    ----------
    pes : int
        Processing elements (1 to 64).
    act_width, act_frac : int
        Activation width in bits (4 to 32) and its fractional bits (0 to ``act_width - 1``).
    codebook_width, codebook_frac : int
        Width of a shared weight value (2 to 18) and its fractional bits (0 to 17).
    bias_width : int
        Bias width (2 to 32); biases share the activations' ``act_frac``.
    index_bits : int
        Width of the relative row index ``z`` of an entry (2 to 8; 4 as in EIE).
    fifo_depth : int
        Depth of each PE's activation FIFO (1 to 256; a depth of 1 is built as 2). The
        broadcast sees a PE's room a cycle late, so it waits while one entry is left.
    max_rows, max_cols : int
        Largest layer the memories hold (1 to 65536 each).
    entry_depth : int
        Entries (code, z) each PE's entry memory holds (1 to 1048576).
    column_depth, bias_depth : int or None
        Column pointers each PE holds and biases the engine holds, when several layers are
        stored one after another (the system runs a whole model): ``max_cols`` to 1048576 and
        ``max_rows`` to 1048576. ``None`` holds one layer (``max_cols`` / ``max_rows``).
    relu : bool
        Whether a standalone layer (bench, sim, verilog) applies ReLU; a model's layers
        choose per layer at run time.
    entry_memory : str
        What holds each PE's entries: ``"block"`` (a memory yosys maps to block RAM, initialized
        with the model) or ``"spram"`` (iCE40UP5K single-port RAMs, ``SB_SPRAM256KA``, 16 K
        words each: no initial contents, so the model is written at run time).
    codebook_memory : str
        What holds the 16 codebook values the PEs look up: ``"registers"`` (one copy in
        flip-flops, read by every PE through a 16-way multiplexer) or ``"block"`` (each PE reads
        its own copy in a block RAM, with the same timing: the iCE40 has EBRs to spare where it
        has no logic to spare).
    batch : int
        Frames served by one pass over the weights (1 to 16). Each activation carries one value
        per frame (a lane), each PE multiplies every weight it reads with all of them and keeps
        ``batch`` accumulators per row: ``batch`` times the MACs for the same weight reads, so
        the throughput rises about ``batch``-fold at ``batch`` frames of latency. A column is
        skipped only when every lane is zero.
    pointer_memory : str
        What holds each PE's two column-pointer memories (start and end of every column):
        ``"block"`` or ``"spram"`` (one SPRAM block each, at most 16-bit pointers; the iCE40UP5K
        keeps them there when its four blocks can also hold the entries).
    accumulator_memory : str
        What holds each PE's accumulators (``batch`` per row, read and written together):
        ``"auto"`` (yosys chooses by size: LUT RAM on the ECP5, block RAM on the iCE40, which
        has no LUT RAM) or ``"block"`` (block RAM whatever the size: wide words of a large
        batch, which in LUT RAM take hundreds of blocks, at the price of the block RAM's
        clock-to-out in the accumulate loop) or ``"lut"`` (a LUT RAM per lane, each read
        through a row register of its own, which the ECP5 flow keeps apart: one register
        addressing every lane's LUT RAM began the ULX3S's worst path; asynchronous reads, so
        ECP5 only: the iCE40 has no LUT RAM). The same outputs and cycles every way.
    accumulator_banks : int
        1 or 2. With 2, each PE keeps two banks of accumulators (and the engine two codebooks),
        and runs alternate between them: the next run (the next layer) computes into one bank
        while this run's rows are read out of the other, instead of waiting for the read-out
        (``SpMVEngine.start_ready``). Twice the accumulator memory, the same outputs.
    multiplier_stages : int
        1 or 2: cycles from a PE's registered weight and activation to its registered product.
        With 2 (``hw.spmv.multiplier``) the operands are registered once more, on the ECP5
        inside its MULT18X18D (its input registers), so that neither the routing to the
        multipliers nor the multiply is a path of its own with the other; each run of a layer
        drains one cycle later. The same outputs.
    accumulate_stages : int
        1 or 2: cycles from a PE's accumulator read to its write back. With 1 the read, the
        add and the write back are one cycle, a loop through the accumulator memory; with 2
        the read is issued a cycle earlier into a register, and an entry of the row the entry
        just ahead of it writes takes that entry's total instead (forwarding), so the loop
        runs from register to register through the adder. The same outputs and cycles.
    column_queue_memory : str
        What holds each PE's three-entry queue of columns whose pointers have been read
        (``hw.spmv.column_queue``): ``"memory"`` (a memory read without a clock: LUT RAM on the
        ECP5, flip-flops on the iCE40) or ``"registers"`` (a register array and a multiplexer:
        on the ECP5 3,700 flip-flops more and 12 MHz slower, on the iCE40 0.65 MHz faster
        than the memory's mapping, mean of 16 seeds). The same outputs and cycles either way.
    """

    ENTRY_MEMORIES = ("block", "spram")
    CODEBOOK_MEMORIES = ("registers", "block")
    ACCUMULATOR_MEMORIES = ("auto", "block", "lut")
    COLUMN_QUEUE_MEMORIES = ("memory", "registers")

    pes: int = 4
    act_width: int = 16
    act_frac: int = 8
    codebook_width: int = 8
    codebook_frac: int = 6
    bias_width: int = 16
    index_bits: int = 4
    fifo_depth: int = 8
    max_rows: int = 1024
    max_cols: int = 1024
    entry_depth: int = 16384
    relu: bool = True
    column_depth: int | None = None
    bias_depth: int | None = None
    entry_memory: str = "block"
    pointer_memory: str = "block"
    codebook_memory: str = "registers"
    batch: int = 1
    accumulator_memory: str = "auto"
    accumulator_banks: int = 1
    multiplier_stages: int = 1
    accumulate_stages: int = 1
    column_queue_memory: str = "memory"

    CODE_BITS = 4  # 4-bit codes: 0 = zero / padding, 1..15 index the codebook
    CODEBOOK_SIZE = 16

    def __post_init__(self):
        owner = type(self).__name__
        check_int(owner, "pes", self.pes, 1, 64)
        check_int(owner, "act_width", self.act_width, 4, 32)
        check_int(owner, "act_frac", self.act_frac, 0, self.act_width - 1)
        check_int(owner, "codebook_width", self.codebook_width, 2, 18)
        check_int(owner, "codebook_frac", self.codebook_frac, 0, 17)
        check_int(owner, "bias_width", self.bias_width, 2, 32)
        check_int(owner, "index_bits", self.index_bits, 2, 8)
        check_int(owner, "fifo_depth", self.fifo_depth, 1, 256)
        check_int(owner, "max_rows", self.max_rows, 1, 65536)
        check_int(owner, "max_cols", self.max_cols, 1, 65536)
        check_int(owner, "entry_depth", self.entry_depth, 1, 1 << 20)
        check_bool(owner, "relu", self.relu)
        check_int(owner, "batch", self.batch, 1, 16)
        check_int(owner, "accumulator_banks", self.accumulator_banks, 1, 2)
        check_int(owner, "multiplier_stages", self.multiplier_stages, 1, 2)
        check_int(owner, "accumulate_stages", self.accumulate_stages, 1, 2)
        check_choice(owner, "entry_memory", self.entry_memory, self.ENTRY_MEMORIES)
        check_choice(owner, "pointer_memory", self.pointer_memory, self.ENTRY_MEMORIES)
        check_choice(owner, "codebook_memory", self.codebook_memory, self.CODEBOOK_MEMORIES)
        check_choice(owner, "accumulator_memory", self.accumulator_memory,
                     self.ACCUMULATOR_MEMORIES)
        check_choice(owner, "column_queue_memory", self.column_queue_memory,
                     self.COLUMN_QUEUE_MEMORIES)
        if self.accumulator_banks == 2 and self.codebook_memory != "registers":
            raise ConfigError(f"{owner}.accumulator_banks 2 needs codebook_memory 'registers' "
                              f"(the two codebooks are registers), not "
                              f"{self.codebook_memory!r}")
        if self.column_depth is not None:
            check_int(owner, "column_depth", self.column_depth, self.max_cols, 1 << 20)
        if self.bias_depth is not None:
            check_int(owner, "bias_depth", self.bias_depth, self.max_rows, 1 << 20)
        if self.acc_width > 62:  # golden models and hosts use int64 arithmetic
            raise ConfigError(
                f"{owner} needs an accumulator of {self.acc_width} bits (act_width "
                f"{self.act_width} + codebook_width {self.codebook_width} + columns "
                f"{self.max_cols}); at most 62 are supported: narrow one of them")
        if self.pointer_memory == "spram" and self.pointer_width > 16:
            raise ConfigError(f"{owner}.pointer_memory 'spram' holds pointers of at most 16 "
                              f"bits; entry_depth {self.entry_depth} needs "
                              f"{self.pointer_width}")
        if self.pointer_memory == "spram" and self.columns_stored > 4 * 16384:
            raise ConfigError(f"{owner}.pointer_memory 'spram' holds at most 65536 columns, "
                              f"not {self.columns_stored}")

    # -- derived values -------------------------------------------------------------------
    @property
    def local_rows(self) -> int:
        """Rows (accumulators) each PE holds: ``ceil(max_rows / pes)``."""
        return math.ceil(self.max_rows / self.pes)

    @property
    def local_row_bits(self) -> int:
        """Width of a local row address."""
        return bits_for(self.local_rows - 1)

    @property
    def col_bits(self) -> int:
        """Width of a column index."""
        return bits_for(self.max_cols - 1)

    @property
    def columns_stored(self) -> int:
        """Column pointers (start, end pairs) each PE's pointer memories hold."""
        return self.max_cols if self.column_depth is None else self.column_depth

    @property
    def biases_stored(self) -> int:
        """Biases the engine's bias memory holds."""
        return self.max_rows if self.bias_depth is None else self.bias_depth

    @property
    def column_address_bits(self) -> int:
        """Width of a pointer-memory address (a stored layer's first column plus its column)."""
        return bits_for(self.columns_stored - 1)

    @property
    def bias_address_bits(self) -> int:
        """Width of a bias-memory address."""
        return bits_for(self.biases_stored - 1)

    @property
    def load_data_bits(self) -> int:
        """Width of the data of a run-time ``load`` beat (any of the engine's memories)."""
        return max(self.pointer_width, self.entry_width, self.codebook_width, self.bias_width)

    @property
    def load_address_bits(self) -> int:
        """Width of the address of a run-time ``load`` beat (any of the engine's memories)."""
        return max(bits_for(self.columns_stored), self.entry_address_bits,
                   self.bias_address_bits, 4)

    @property
    def pointer_width(self) -> int:
        """Width of a column pointer (0 to ``entry_depth`` inclusive)."""
        return bits_for(self.entry_depth)

    @property
    def entry_address_bits(self) -> int:
        """Width of an entry memory address."""
        return bits_for(self.entry_depth - 1)

    @property
    def entry_width(self) -> int:
        """Bits of one stored entry: 4-bit code and ``index_bits`` relative row index."""
        return self.CODE_BITS + self.index_bits

    @property
    def max_skip(self) -> int:
        """Largest ``z`` an entry can hold; a padding entry carries exactly this."""
        return (1 << self.index_bits) - 1

    @property
    def product_width(self) -> int:
        """Signed width of one weight x activation product."""
        return self.act_width + self.codebook_width

    @property
    def acc_width(self) -> int:
        """Signed accumulator width that cannot wrap for any ``max_cols``-long column sum.

        The largest magnitude is ``max_cols * 2**(codebook_width-1) * 2**(act_width-1)``
        (most-negative times most-negative, in every column), which needs one bit beyond
        its own length to stay positive in two's complement.
        """
        worst = self.max_cols << (self.codebook_width - 1 + self.act_width - 1)
        return worst.bit_length() + 1

    @property
    def act_range(self) -> tuple[int, int]:
        """Smallest and largest activation (and output) integer."""
        return -(1 << (self.act_width - 1)), (1 << (self.act_width - 1)) - 1

    @property
    def codebook_range(self) -> tuple[int, int]:
        """Smallest and largest codebook integer."""
        return -(1 << (self.codebook_width - 1)), (1 << (self.codebook_width - 1)) - 1

    @property
    def bias_range(self) -> tuple[int, int]:
        """Smallest and largest bias integer."""
        return -(1 << (self.bias_width - 1)), (1 << (self.bias_width - 1)) - 1

    def check_layers(self, shapes, entries_per_pe: int, *, owner: str = "SpMVConfig") -> None:
        """Raise :class:`ConfigError` unless layers of ``shapes`` (``(rows, cols)`` each), stored
        one after another with at most ``entries_per_pe`` entries in a PE, fit the memories."""
        shapes = [(int(rows), int(cols)) for rows, cols in shapes]
        needs = (("max_rows", self.max_rows, max(rows for rows, _ in shapes)),
                 ("max_cols", self.max_cols, max(cols for _, cols in shapes)),
                 ("column_depth", self.columns_stored, sum(cols for _, cols in shapes)),
                 ("bias_depth", self.biases_stored, sum(rows for rows, _ in shapes)),
                 ("entry_depth", self.entry_depth, int(entries_per_pe)))
        for name, have, need in needs:
            if need > have:
                raise ConfigError(f"{owner}.{name} is {have}; the model needs {need} "
                                  f"({need - have} more)")

    def replace(self, **changes) -> SpMVConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)


_CONFIG_CLASSES: dict[str, type] = {"SpMVConfig": SpMVConfig}


def register_config(cls: type) -> type:
    """Class decorator: make ``cls`` known to :func:`config_from_dict`."""
    _CONFIG_CLASSES[cls.__name__] = cls
    return cls


def config_to_dict(config) -> dict:
    """A JSON-able dict of ``config`` that :func:`config_from_dict` turns back into it."""
    out = {"class": type(config).__name__}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        out[field.name] = config_to_dict(value) if dataclasses.is_dataclass(value) else value
    return out


def config_from_dict(data: dict):
    """Rebuild a config from :func:`config_to_dict` output, refusing unknown classes/fields."""
    if not isinstance(data, dict) or "class" not in data:
        raise ConfigError(f"a saved config must be a dict with a 'class' key, not {data!r}")
    name = data["class"]
    if name not in _CONFIG_CLASSES:
        raise ConfigError(f"unknown config class {name!r}; known: {sorted(_CONFIG_CLASSES)}")
    cls = _CONFIG_CLASSES[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known - {"class"}
    if unknown:
        raise ConfigError(f"{name} has no field(s) {sorted(unknown)}")
    kwargs = {}
    for key, value in data.items():
        if key == "class":
            continue
        kwargs[key] = config_from_dict(value) if isinstance(value, dict) else value
    return cls(**kwargs)


@register_config
@dataclass(frozen=True)
class LinkConfig:
    """Parameters of the UART host link and its framed protocol.

    A frame is ``SYNC, type, length (2 bytes, little endian), payload, CRC-16`` (CRC-16/
    CCITT-FALSE over type, length and payload, sent high byte first). A line idle for
    ``idle_timeout_bytes`` byte times ends a frame early (truncated) and re-arms the parser, so
    the next good frame always decodes, whatever garbage came before it.

    Parameters
    ----------
    clock_hz : int
        Clock of the design (1 MHz to 500 MHz).
    baud : int
        Line rate (1200 to 12 Mbaud); ``clock_hz / baud`` must be at least 4.
    max_payload : int
        Largest payload in bytes (1 to 65535); longer frames are refused as oversized.
    idle_timeout_bytes : int
        Idle line time, in byte times, that ends a frame (1 to 1000).
    max_words : int
        Words one WORDS reply holds (1 to 4096); with the status word they must fit a payload.
    """

    clock_hz: int = 12_000_000
    baud: int = 115_200
    max_payload: int = 1024
    idle_timeout_bytes: int = 4
    max_words: int = 64

    def __post_init__(self):
        owner = type(self).__name__
        check_int(owner, "clock_hz", self.clock_hz, 1_000_000, 500_000_000)
        check_int(owner, "baud", self.baud, 1200, 12_000_000)
        check_int(owner, "max_payload", self.max_payload, 1, 65535)
        check_int(owner, "idle_timeout_bytes", self.idle_timeout_bytes, 1, 1000)
        check_int(owner, "max_words", self.max_words, 1, 4096)
        if 2 * (self.max_words + 1) > self.max_payload:
            raise ConfigError(f"{owner}.max_words {self.max_words} needs a payload of "
                              f"{2 * (self.max_words + 1)} bytes; max_payload is "
                              f"{self.max_payload}")
        if self.divisor < 4:
            raise ConfigError(f"{owner}.baud {self.baud} is too fast for clock_hz "
                              f"{self.clock_hz}: the divisor {self.divisor} must be at least 4")

    @property
    def divisor(self) -> int:
        """Clock cycles per bit (rounded to nearest)."""
        return round(self.clock_hz / self.baud)

    @property
    def idle_timeout_cycles(self) -> int:
        """Clock cycles of idle line that end a frame (10 bits per byte)."""
        return self.idle_timeout_bytes * 10 * self.divisor

    @property
    def length_bits(self) -> int:
        """Width of a payload length or buffer address."""
        return bits_for(self.max_payload)


@register_config
@dataclass(frozen=True)
class CostConfig:
    """Format of the acoustic costs the cost unit hands to the Viterbi unit.

    ``cost = min(((max(y) - y) * scale) >> (act_frac + scale_frac - cost_frac), 2**cost_width
    - 1)``; see ``sw/golden/cost.py``.

    Parameters
    ----------
    cost_width, cost_frac : int
        Unsigned cost width (4 to 32) and its fractional bits (0 to ``cost_width - 1``).
    scale_width, scale_frac : int
        Width of the run-time acoustic scale (2 to 18) and its fractional bits (0 to 16).
    max_outputs : int
        Largest number of scores (pdfs) per frame (1 to 65536).
    """

    cost_width: int = 16
    cost_frac: int = 4
    scale_width: int = 16
    scale_frac: int = 8
    max_outputs: int = 1024

    def __post_init__(self):
        owner = type(self).__name__
        check_int(owner, "cost_width", self.cost_width, 4, 32)
        check_int(owner, "cost_frac", self.cost_frac, 0, self.cost_width - 1)
        check_int(owner, "scale_width", self.scale_width, 2, 18)
        check_int(owner, "scale_frac", self.scale_frac, 0, 16)
        check_int(owner, "max_outputs", self.max_outputs, 1, 65536)

    def shift(self, act_frac: int) -> int:
        """Right shift that turns ``(max - y) * scale`` into cost units."""
        shift = act_frac + self.scale_frac - self.cost_frac
        if shift < 0:
            raise ConfigError(f"act_frac {act_frac} + scale_frac {self.scale_frac} must be at "
                              f"least cost_frac {self.cost_frac}")
        return shift


@register_config
@dataclass(frozen=True)
class ViterbiConfig:
    """Parameters of the Viterbi unit and its set-associative hypothesis table.

    Parameters
    ----------
    sets : int
        Sets of the hypothesis table, a power of two (1 to 4096).
    ways : int
        Ways per set (1 to 16); the table bounds the hypotheses per frame to ``sets * ways``.
    hash : str
        Set index of a state: ``"xor_fold"`` (XOR of the ``log2(sets)``-bit slices of the
        state id) or ``"multiplicative"`` (Fibonacci hashing).
    state_bits : int
        Width of a state id (1 to 24); the graph's states must fit.
    beam : int
        Beam in cost units (fixed point with ``cost.cost_frac`` fractional bits, >= 0).
    trace_depth : int
        Entries of the word-trace memory (1 to 65536).
    trace_gc_free : int or None
        Collect the word trace (reclaim entries no hypothesis can reach) at a frame boundary
        when fewer than this many entries are free: 0 to ``trace_depth``; 0 never collects.
        ``None`` (default) means ``trace_depth // 2`` (:attr:`trace_gc_threshold`): at 4,096
        entries, rare on the digit task (~8 words traced per frame) and every ~8 frames on the
        1,000-word task (~220 per frame). It should exceed the words traced in one frame, or
        a frame can still overflow the trace.
    max_epsilon_passes : int
        Bound on the non-emitting passes per frame (1 to 16).
    word_bits : int
        Width of a word id (1 to 16).
    max_states, max_arcs, max_pdfs : int
        Depths of the graph memories (states with their final costs, arcs) and of the score
        buffer (pdfs per frame); ``max_states`` must fit ``state_bits``.
    cost : CostConfig
        Width and fixed point of costs (shared with the cost unit).
    free_list : str
        How the unit keeps the free word-trace entries; both give the same pointers in the
        same cycles. ``"linked"`` (default): through the free entries' parent fields, as the
        golden model does, in no memory of its own; the trace memory's output then feeds its
        own next address, the worst path on the ECP5. ``"stack"``: in a memory of its own (one
        block RAM more), read ahead from its size: no memory output feeds an address.
    score_banks : int
        Frames of scores the unit buffers: 1 (default; it takes a frame's scores while it
        waits for them) or 2 (it takes the next frame's while it searches this one, so a source
        that has them ready, a batched engine, is not held up; twice the score memory).
    skip_settled_passes : bool
        End the epsilon passes after a pass that changed the table but settled it (every
        offer through the beam went to a state without epsilon arcs, replaced nothing and did
        not lower the beam's best): the next pass would change nothing. Same tables and words;
        fewer cycles, and the skipped pass's arcs, prunes and drops are not counted. True
        (default); False runs every pass until one changes nothing (a little less logic).
    """

    sets: int = 64
    ways: int = 4
    hash: str = "xor_fold"
    state_bits: int = 16
    beam: int = 16 * 16
    trace_depth: int = 4096
    trace_gc_free: int | None = None
    max_epsilon_passes: int = 4
    word_bits: int = 12
    max_states: int = 1024
    max_arcs: int = 4096
    max_pdfs: int = 256
    cost: CostConfig = CostConfig()
    free_list: str = "linked"
    score_banks: int = 1
    skip_settled_passes: bool = True

    HASHES = ("xor_fold", "multiplicative")
    FREE_LISTS = ("linked", "stack")

    def __post_init__(self):
        owner = type(self).__name__
        if (isinstance(self.sets, bool) or not isinstance(self.sets, int) or self.sets < 1
                or self.sets > 4096 or self.sets & (self.sets - 1)):
            raise ConfigError(f"{owner}.sets must be a power of two from 1 to 4096, not "
                              f"{self.sets!r}")
        check_int(owner, "ways", self.ways, 1, 16)
        check_choice(owner, "hash", self.hash, self.HASHES)
        check_int(owner, "state_bits", self.state_bits, 1, 24)
        check_int(owner, "trace_depth", self.trace_depth, 1, 65536)
        if self.trace_gc_free is not None:
            check_int(owner, "trace_gc_free", self.trace_gc_free, 0, self.trace_depth)
        check_int(owner, "max_epsilon_passes", self.max_epsilon_passes, 1, 16)
        check_int(owner, "word_bits", self.word_bits, 1, 16)
        check_int(owner, "max_states", self.max_states, 1, 1 << self.state_bits)
        check_int(owner, "max_arcs", self.max_arcs, 1, 1 << 20)
        check_int(owner, "max_pdfs", self.max_pdfs, 1, 1 << 14)
        if not isinstance(self.cost, CostConfig):
            raise ConfigError(f"{owner}.cost must be a CostConfig, not {self.cost!r}")
        check_int(owner, "beam", self.beam, 0, self.cost_max)
        check_choice(owner, "free_list", self.free_list, self.FREE_LISTS)
        check_int(owner, "score_banks", self.score_banks, 1, 2)
        check_bool(owner, "skip_settled_passes", self.skip_settled_passes)

    @property
    def table_entries(self) -> int:
        """Hypotheses the table holds: ``sets * ways``."""
        return self.sets * self.ways

    @property
    def set_bits(self) -> int:
        """Width of a set index (0 for one set)."""
        return self.sets.bit_length() - 1

    @property
    def cost_max(self) -> int:
        """The saturated ("infinite") cost."""
        return (1 << self.cost.cost_width) - 1

    @property
    def trace_bits(self) -> int:
        """Width of a word-trace pointer; the all-ones value means "no word yet"."""
        return bits_for(self.trace_depth)

    @property
    def trace_gc_threshold(self) -> int:
        """Free trace entries below which a frame boundary collects (0: never)."""
        if self.trace_gc_free is None:
            return self.trace_depth // 2
        return self.trace_gc_free

    @property
    def arc_bits(self) -> int:
        """Width of an arc address (one more value than ``max_arcs`` marks a range end)."""
        return bits_for(self.max_arcs)

    @property
    def pdf_bits(self) -> int:
        """Width of a pdf index into the score buffer."""
        return bits_for(self.max_pdfs - 1)

    def check_graph(self, num_states: int, num_words: int) -> None:
        """Raise :class:`ConfigError` unless a graph of this size fits the widths."""
        if num_states > 1 << self.state_bits:
            raise ConfigError(f"{type(self).__name__}.state_bits {self.state_bits} holds "
                              f"{1 << self.state_bits} states; the graph has {num_states}")
        if num_words > 1 << self.word_bits:
            raise ConfigError(f"{type(self).__name__}.word_bits {self.word_bits} holds "
                              f"{1 << self.word_bits} words; the graph has {num_words}")

    @property
    def state_record_fields(self) -> tuple:
        """``(name, width)`` of a state-memory word, least significant first: the state's
        emitting arcs are ``begin..split``, its epsilon arcs ``split..end``; ``final`` is its
        final cost (``cost_max`` when not final)."""
        return (("begin", self.arc_bits), ("split", self.arc_bits), ("end", self.arc_bits),
                ("final", self.cost.cost_width))

    @property
    def arc_record_fields(self) -> tuple:
        """``(name, width)`` of an arc-memory word, least significant first; ``dest_has_eps``
        says whether the destination state has epsilon arcs (the epsilon pass skips the rest)."""
        return (("dest", self.state_bits), ("pdf", self.pdf_bits), ("word", self.word_bits),
                ("cost", self.cost.cost_width), ("dest_has_eps", 1))

    def check_memories(self, num_states: int, num_arcs: int, num_pdfs: int) -> None:
        """Raise :class:`ConfigError` unless a graph fits the unit's memories."""
        owner = type(self).__name__
        for name, need in (("max_states", num_states), ("max_arcs", num_arcs),
                           ("max_pdfs", num_pdfs)):
            have = getattr(self, name)
            if need > have:
                raise ConfigError(f"{owner}.{name} is {have}; the graph needs {need} "
                                  f"({need - have} more)")


@register_config
@dataclass(frozen=True)
class SystemConfig:
    """The whole recognizer: engine, Viterbi unit (with the cost format they share) and link.

    The host sends each frame's first-layer activations as ``int16`` over the link, so the
    engine's activations are 16 bits wide; the last layer's rows are the Viterbi unit's pdfs,
    converted by the cost unit in the Viterbi unit's cost format.

    Parameters
    ----------
    spmv : SpMVConfig
        The engine; ``column_depth`` / ``bias_depth`` hold every layer of the model.
    viterbi : ViterbiConfig
        Table, beam, graph memories; its ``cost`` is also the cost unit's format.
    link : LinkConfig
        UART clock, baud and frame limits; ``max_words`` bounds the words of one utterance.
    max_layers : int
        Layers the sequencer runs per frame (1 to 16).
    preload_model : bool
        True: the bitstream holds the model (the engine's memories and the codebooks are
        initialized with it). False: they start empty, and the host writes the model with LOAD
        frames before the first utterance, as memories without initial contents (the iCE40's
        SPRAM) require. Either way LOAD frames can replace the model between utterances.
    model_load : bool
        The host link takes LOAD frames. False leaves out the write paths into the model's
        memories (in the reduced iCE40 design about 130 LUTs, 90 flip-flops and 46 carries:
        it then asks for 5,282 of the UP5K's 5,280 LCs); the model is then the bitstream's.
    splice_context : int
        Frames of context the core splices on each side (0 to 16). 0: the host sends each
        frame's spliced first-layer input (``cols`` values). ``c`` > 0: the host sends the
        frames themselves (``cols / (2c + 1)`` values each), the first repeated ``c`` times
        before them and the last ``c`` times after (``sw.system.SystemDesign.host_frames``),
        and the core stacks frames ``t .. t + 2c`` of that sequence into spliced frame ``t``:
        ``2c + 1`` times fewer values over the link and into the core.
    """

    spmv: SpMVConfig = SpMVConfig()
    viterbi: ViterbiConfig = ViterbiConfig()
    link: LinkConfig = LinkConfig()
    max_layers: int = 4
    preload_model: bool = True
    model_load: bool = True
    splice_context: int = 0

    LINK_ACTIVATION_WIDTH = 16  # FEATURES frames carry int16 values

    def __post_init__(self):
        owner = type(self).__name__
        for name, cls in (("spmv", SpMVConfig), ("viterbi", ViterbiConfig),
                          ("link", LinkConfig)):
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{owner}.{name} must be a {cls.__name__}, not "
                                  f"{getattr(self, name)!r}")
        check_int(owner, "max_layers", self.max_layers, 1, 16)
        check_bool(owner, "preload_model", self.preload_model)
        check_bool(owner, "model_load", self.model_load)
        check_int(owner, "splice_context", self.splice_context, 0, 16)
        for memory in ("entry_memory", "pointer_memory"):
            if getattr(self.spmv, memory) == "spram" and self.preload_model:
                raise ConfigError(f"{owner}.spmv.{memory} 'spram' needs preload_model=False: "
                                  f"SPRAM has no initial contents, the host loads the model")
        if not (self.preload_model or self.model_load):
            raise ConfigError(f"{owner} with preload_model=False needs model_load=True: the "
                              f"model must come from the bitstream or over the link")
        if self.spmv.act_width != self.LINK_ACTIVATION_WIDTH:
            raise ConfigError(f"{owner}.spmv.act_width must be {self.LINK_ACTIVATION_WIDTH} "
                              f"(the link carries int16 activations), not {self.spmv.act_width}")
        if self.viterbi.cost.max_outputs < self.viterbi.max_pdfs:
            raise ConfigError(f"{owner}.viterbi.cost.max_outputs {self.viterbi.cost.max_outputs}"
                              f" must hold viterbi.max_pdfs {self.viterbi.max_pdfs}")
        if self.viterbi.word_bits > 15:
            raise ConfigError(f"{owner}.viterbi.word_bits must be at most 15 (a WORDS reply "
                              f"marks lost words with bit 15), not {self.viterbi.word_bits}")

    @property
    def cost(self) -> CostConfig:
        """The cost format shared by the cost unit and the Viterbi unit."""
        return self.viterbi.cost

    @property
    def splice_window(self) -> int:
        """Frames stacked into one spliced frame: ``2 * splice_context + 1``."""
        return 2 * self.splice_context + 1

    def host_frame_values(self, input_cols: int) -> int:
        """Values the host sends per frame to a first layer of ``input_cols`` columns."""
        if input_cols % self.splice_window:
            raise ConfigError(f"{type(self).__name__}.splice_context {self.splice_context} "
                              f"stacks {self.splice_window} frames; the first layer's "
                              f"{input_cols} inputs are not a multiple of it")
        return input_cols // self.splice_window

    def check_model(self, shapes, entries_per_pe: int, num_pdfs: int) -> None:
        """Raise :class:`ConfigError` unless a model fits: ``shapes`` is ``(rows, cols)`` per
        layer, ``entries_per_pe`` the most entries any PE stores over all layers."""
        owner, spmv = type(self).__name__, self.spmv
        shapes = [(int(rows), int(cols)) for rows, cols in shapes]
        if not 1 <= len(shapes) <= self.max_layers:
            raise ConfigError(f"{owner}.max_layers is {self.max_layers}; the model has "
                              f"{len(shapes)} layers")
        spmv.check_layers(shapes, entries_per_pe, owner=f"{owner}.spmv")
        self.host_frame_values(shapes[0][1])
        if num_pdfs > self.viterbi.max_pdfs:
            raise ConfigError(f"{owner}.viterbi.max_pdfs is {self.viterbi.max_pdfs}; the model "
                              f"needs {num_pdfs} ({num_pdfs - self.viterbi.max_pdfs} more)")
        if shapes[-1][0] != num_pdfs:
            raise ConfigError(f"the model's last layer has {shapes[-1][0]} rows; the graph "
                              f"has {num_pdfs} pdfs")
        for index in range(1, len(shapes)):
            if shapes[index][1] != shapes[index - 1][0]:
                raise ConfigError(f"layer {index} takes {shapes[index][1]} inputs; layer "
                                  f"{index - 1} gives {shapes[index - 1][0]}")
