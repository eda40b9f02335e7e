"""The recognizer core: first-layer activations in, words out.

Per frame the sequencer runs every layer of the model on the one SpMV engine: it loads the
layer's codebook, starts the engine at the layer's place in its memories, feeds it the frame's
activations (layer 0: straight from ``features``, or gathered into a batch of frames by
:class:`hw.batching.FrameGather`, or spliced from the frames the host sends by
:class:`hw.splice.ContextGather`) or the previous layer's outputs (from one half of a ping-pong
buffer) and writes the outputs to the other half — or, for the last layer, into the cost unit,
whose costs go on to the Viterbi unit. The units are joined by streams, so the engine
starts the next frame while the Viterbi unit still expands this one.

Between utterances ``load`` writes the model's memories (the engine's pointers, entries and
biases, and the codebook store), so the host can load a model into a recognizer built without
one (``SystemConfig.preload_model`` False) or replace it.

After ``finish`` the utterance ends once every frame has reached the Viterbi unit; its words
(which it gives last word first) are turned round through a small stack and leave in spoken order,
then a status word with ``last`` set (:class:`hw.protocol.Status`: trace overflow, a frame with
the wrong number of scores, words beyond ``link.max_words`` lost).
"""

import dataclasses

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.batching import FrameGather, FrameSplit
from hw.config import SystemConfig
from hw.cost import CostUnit
from hw.host_interface import word_layout
from hw.memory import CollisionFreeMemory
from hw.protocol import Status
from hw.splice import ContextGather
from hw.spmv import SpMVEngine
from hw.spmv.engine import LoadTarget, load_layout
from hw.spmv.lanes import lane_shape
from hw.viterbi.unit import ViterbiUnit

__all__ = ["Recognizer"]

COUNTER_BITS = 32


class Recognizer(wiring.Component):
    """SpMV engine + cost unit + Viterbi unit, sequenced frame by frame.

    Pulse ``start`` (a new utterance), stream each frame's first-layer activations into
    ``features`` (with ``config.splice_context``, the frames they are spliced from:
    ``sw.system.SystemDesign.host_frames``), pulse ``finish`` after the last frame, take the
    words from ``words``. Model writes on ``load`` are taken only while no utterance runs
    (``CODEBOOK`` addresses are ``16 * layer + code`` in the codebook store), and only with
    ``config.model_load``.

    The counters, all cleared by ``start``: ``frames`` the engine finished,
    ``utterance_cycles`` from ``start`` to the last word, ``engine_cycles`` while layers run
    (codebook loads included) and ``viterbi_cycles`` while the Viterbi unit expands, follows
    epsilon arcs or collects its word trace (not while it waits for scores).

    Parameters
    ----------
    config : SystemConfig
        Engine, Viterbi unit, cost format and word limit.
    model : sw.model_image.ModelImage
        The layers, laid out for ``config.spmv``.
    graph : sw.golden.viterbi_image.ViterbiImage
        The decoding graph, laid out for ``config.viterbi``.
    scale : int
        The cost unit's fixed-point acoustic scale (``QuantizedModel.scale``).
    """

    def __init__(self, config: SystemConfig, *, model, graph, scale: int):
        if not isinstance(config, SystemConfig):
            raise TypeError(f"config must be a SystemConfig, not {config!r}")
        model.check_fits(config.spmv)
        config.check_model(model.shapes, model.entries_per_pe, graph.num_pdfs)
        if not 1 <= scale < 1 << config.cost.scale_width:
            raise ValueError(f"scale must be 1..{(1 << config.cost.scale_width) - 1} "
                             f"(cost.scale_width {config.cost.scale_width}), not {scale!r}")
        self.config, self.model, self.graph, self.scale = config, model, graph, scale
        super().__init__({
            "features": In(stream.Signature(signed(config.spmv.act_width))),
            "start": In(1),
            "finish": In(1),
            "load": In(stream.Signature(load_layout(config.spmv))),
            "words": Out(stream.Signature(word_layout)),
            "busy": Out(1),
            "frames": Out(COUNTER_BITS),
            "engine_cycles": Out(COUNTER_BITS),
            "utterance_cycles": Out(COUNTER_BITS),
            "viterbi_cycles": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        config, slots = self.config, self.model.slots
        spmv, last = config.spmv, len(slots) - 1
        num_pdfs = slots[-1].rows
        batch = spmv.batch
        activation = lane_shape(spmv.act_width, batch)

        # layer 0 reads gathered frames: a batch's, or the frames the core splices itself
        gathered = batch > 1 or config.splice_context > 0

        preload = config.preload_model
        m.submodules.engine = engine = SpMVEngine(spmv, layer=self.model if preload else None)
        # the cost unit buffers one frame of the last layer, at most max_pdfs scores: sized
        # to the graph, not to the cost format's limit (4 of the UP5K's 30 EBRs against 1);
        # a batch's frames come back to back, so it collects one while it converts another
        m.submodules.cost_unit = cost_unit = CostUnit(
            spmv, dataclasses.replace(config.cost, max_outputs=config.viterbi.max_pdfs),
            banks=1 if spmv.batch == 1 else 2)
        m.submodules.viterbi = viterbi = ViterbiUnit(config.viterbi, graph=self.graph)
        m.d.comb += [cost_unit.count.eq(num_pdfs), cost_unit.scale.eq(self.scale),
                     viterbi.start_state.eq(self.graph.start),
                     viterbi.start_has_eps.eq(int(self.graph.start_has_eps)),
                     # its working cycles, not its waits for scores: with the engine's,
                     # the two loads whose larger bounds the cycles per frame
                     self.viterbi_cycles.eq(viterbi.counters.expand_cycles
                                            + viterbi.counters.epsilon_cycles
                                            + viterbi.counters.collect_cycles)]

        # Every layer's codebook, 16 values each, copied into the engine before the layer runs.
        m.submodules.codebooks = codebooks = CollisionFreeMemory(
            shape=signed(spmv.codebook_width), depth=16 * len(slots),
            init=[value for slot in slots for value in slot.codebook] if preload else [])
        codebook_read = codebooks.read_port()
        if config.model_load:
            codebook_write = codebooks.write_port()
            m.d.comb += [codebook_write.addr.eq(self.load.payload.address),
                         codebook_write.data.eq(self.load.payload.data)]

        # Ping-pong activations: layer l reads half (l - 1) % 2 and writes half l % 2.
        m.submodules.activations = activations = CollisionFreeMemory(
            shape=activation, depth=2 * spmv.max_rows, init=[])
        buffer_write = activations.write_port()
        buffer_read = activations.read_port()

        # `layer` is the layer the engine computes (or is about to), `out_layer` the one whose
        # rows come out of it: the same layer, or with two accumulator banks the one before.
        overlap = spmv.accumulator_banks == 2
        layer = Signal(range(len(slots)))
        out_layer = Signal(range(len(slots)))
        cols = Signal(range(spmv.max_cols + 1))
        with m.Switch(layer):
            for index, slot in enumerate(slots):
                with m.Case(index):
                    m.d.comb += [cols.eq(slot.cols),
                                 engine.rows.eq(slot.rows), engine.cols.eq(slot.cols),
                                 engine.relu.eq(int(slot.relu)),
                                 engine.column_base.eq(slot.column_base),
                                 engine.bias_base.eq(slot.bias_base)]
        out_last_row = Signal(range(spmv.max_rows))
        with m.Switch(out_layer):
            for index, slot in enumerate(slots):
                with m.Case(index):
                    m.d.comb += out_last_row.eq(slot.rows - 1)

        # Layer 0 reads the gathered frames, one column of every frame of a batch per read.
        if not gathered:
            latency = 1
        else:
            if config.splice_context:
                m.submodules.gather = gather = ContextGather(
                    spmv, config.host_frame_values(slots[0].cols), config.splice_context)
            else:
                m.submodules.gather = gather = FrameGather(spmv, slots[0].cols)
            latency = gather.READ_LATENCY
            batch_frames = Signal(range(batch + 1))
        if batch > 1:
            # two batches: the next batch's last layer need not wait for the Viterbi unit to
            # take this batch's scores (with the read-outs overlapped, it did, 300 cycles a
            # batch of 8)
            m.submodules.split = split = FrameSplit(spmv, num_pdfs, banks=2)

        # Buffer reader: one read per cycle while the FIFO has room for it and the reads in
        # flight; the buffer's reads wait as long as the gather's, so both arrive in order.
        reader_depth = 3 + latency
        m.submodules.reader_fifo = reader_fifo = fifo.SyncFIFO(width=spmv.act_width * batch,
                                                               depth=reader_depth)
        read_index = Signal(range(spmv.max_cols + 1))
        in_flight = [Signal(name=f"read_in_flight{stage}") for stage in range(latency)]
        read_issue = Signal()
        reading = Signal()
        # with two banks a layer may read the previous layer's rows while they come out,
        # each once it is written
        written = Signal(range(spmv.max_rows + 1))  # rows of out_layer taken from the engine
        readable = 1 if not overlap else ((layer == 0) | (out_layer != layer - 1)
                                          | (read_index < written))
        m.d.comb += [read_issue.eq(reading & (read_index != cols) & readable
                                   & (reader_fifo.level + sum(in_flight) < reader_depth)),
                     buffer_read.addr.eq(Mux(layer[0], 0, spmv.max_rows) + read_index),
                     reader_fifo.w_en.eq(in_flight[-1])]
        m.d.sync += [stage.eq(before) for stage, before
                     in zip(in_flight, [read_issue, *in_flight[:-1]], strict=True)]
        buffer_data = buffer_read.data
        for _ in range(latency - 1):
            delayed = Signal.like(buffer_data)
            m.d.sync += delayed.eq(buffer_data)
            buffer_data = delayed
        if not gathered:
            m.d.comb += reader_fifo.w_data.eq(buffer_data)
        else:
            m.d.comb += [gather.read_next.eq(read_issue & (layer == 0)),
                         reader_fifo.w_data.eq(Mux(layer == 0, gather.read_data, buffer_data))]
        with m.If(read_issue):
            m.d.sync += read_index.eq(read_index + 1)

        # A register between the layer's source (features or the reader) and the engine: the
        # engine's ready depends on the value (zero activations are skipped) and on every PE's
        # column FIFO, too long a path to share a cycle with the source's own handshake. It
        # takes exactly `cols` values per layer run, so a value of the next frame stays with
        # the host until the engine's run for it begins.
        running_layers, in_utterance = Signal(), Signal()
        source_payload = Signal(activation)
        source_valid, source_ready = Signal(), Signal()
        slice_payload = Signal(activation)
        slice_valid = Signal()
        taken = Signal(range(spmv.max_cols + 1))
        # values of the layer are left to take: a register, so that the source's ready does not
        # wait on a comparison of `taken` with `cols` (on the iCE40's worst path with the
        # engine's own, 33.9 ns)
        source_more = Signal()
        m.d.comb += [source_ready.eq(running_layers & source_more
                                     & (~slice_valid | engine.activations.ready)),
                     engine.activations.payload.eq(slice_payload),
                     engine.activations.valid.eq(slice_valid)]
        with m.If(source_valid & source_ready):
            m.d.sync += [slice_payload.eq(source_payload), slice_valid.eq(1),
                         taken.eq(taken + 1), source_more.eq(taken + 1 != cols)]
        with m.Elif(engine.activations.ready):
            m.d.sync += slice_valid.eq(0)

        # Cost unit -> Viterbi scores; the sequencer adds the utterance_end beat at the end.
        if batch > 1:
            m.d.comb += [cost_unit.scores.payload.eq(split.scores.payload),
                         cost_unit.scores.valid.eq(split.scores.valid),
                         split.scores.ready.eq(cost_unit.scores.ready)]
        pdf_index = Signal(range(num_pdfs))
        frame_end = pdf_index == num_pdfs - 1
        end_beat = Signal()
        m.d.comb += [viterbi.scores.payload.cost.eq(cost_unit.costs.payload),
                     viterbi.scores.payload.frame_end.eq(frame_end),
                     viterbi.scores.payload.utterance_end.eq(end_beat),
                     viterbi.scores.valid.eq(Mux(end_beat, 1, cost_unit.costs.valid)),
                     cost_unit.costs.ready.eq(~end_beat & viterbi.scores.ready)]
        scored = Signal()  # a frame's last score went to the Viterbi unit this cycle
        with m.If(~end_beat & cost_unit.costs.valid & viterbi.scores.ready):
            m.d.sync += pdf_index.eq(Mux(frame_end, 0, pdf_index + 1))
            m.d.comb += scored.eq(frame_end)

        # Words: pushed as the Viterbi unit gives them (last first), popped in spoken order.
        max_words = config.link.max_words
        m.submodules.word_stack = word_stack = CollisionFreeMemory(shape=16, depth=max_words,
                                                                   init=[])
        push, pop = word_stack.write_port(), word_stack.read_port(transparent_for=())
        depth = Signal(range(max_words + 1))
        status = Signal(16)
        m.d.comb += [push.addr.eq(depth), push.data.eq(viterbi.words.payload.word)]

        frames = Signal(COUNTER_BITS)  # frames whose last layer the engine finished
        # Frames the engine finished and the Viterbi unit has not yet scored: the utterance
        # ends when none are left. A small count instead of comparing `frames` with a 32-bit
        # count of scored frames: on the iCEBreaker, which never reads `frames`, both counters
        # and their comparator then vanish (about 150 LCs). At most two batches and the cost
        # unit's two frames are ever in flight; the range leaves room to spare.
        frames_in_flight = Signal(range(4 * batch + 8))
        finished = Signal(range(batch + 1))  # frames the engine finished this cycle
        m.d.sync += frames_in_flight.eq(frames_in_flight + finished - scored)
        finish_pending = Signal()
        engine_cycles = Signal(COUNTER_BITS)
        utterance_cycles = Signal(COUNTER_BITS)
        m.d.comb += [self.frames.eq(frames), self.engine_cycles.eq(engine_cycles),
                     self.utterance_cycles.eq(utterance_cycles)]
        with m.If(self.finish):
            m.d.sync += finish_pending.eq(1)
        # counted from start until the Viterbi unit's last word; the engine part while the
        # sequencer runs layers (codebook loads included)
        with m.If(running_layers | engine.busy):
            m.d.sync += engine_cycles.eq(engine_cycles + 1)
        with m.If(running_layers | in_utterance):
            m.d.sync += utterance_cycles.eq(utterance_cycles + 1)

        # Codebook copier: a layer's 16 values go from the store into the engine one per cycle,
        # the next layer's while this one's rows are read out (the PEs no longer read the
        # codebook then), so a layer starts as soon as the last one ends; the first layer's
        # when an utterance starts, while its first frames arrive.
        copy_start = Signal()
        copy_layer = Signal(range(len(slots)))
        copy_next_layer = Signal(range(len(slots)))
        copying = Signal()
        copy_code = Signal(4)
        copy_primed = Signal()  # the value of copy_code is on the store's read data
        copy_offer = Signal()
        copy_write = Signal()
        copy_issued = Signal()  # this layer's run has started the next copy
        # The offer depends on registers only: the engine's ready depends on the offer's target.
        # The write is decided on the engine's codebook_ready, not on load.ready, which depends
        # on the load's target, which the sequencer's state selects (the host's in IDLE): the
        # path ran from that state on through the read address into the store (the ULX3S's worst
        # path, 11.8 ns). Outside IDLE a copy offer is the engine's only load; in IDLE the
        # engine is idle and takes every load.
        m.d.comb += [copy_offer.eq(copying & copy_primed),
                     copy_write.eq(copy_offer & engine.codebook_ready),
                     codebook_read.addr.eq(copy_layer * 16 + copy_code + copy_write)]
        with m.If(copying):
            m.d.sync += copy_primed.eq(1)
            with m.If(copy_write):
                m.d.sync += copy_code.eq(copy_code + 1)
                with m.If(copy_code == 15):
                    m.d.sync += [copying.eq(0), copy_primed.eq(0)]
        with m.If(copy_start):
            m.d.sync += [copying.eq(1), copy_primed.eq(0), copy_code.eq(0),
                         copy_layer.eq(copy_next_layer)]
        with m.If(copy_offer):
            m.d.comb += [engine.load.valid.eq(1),
                         engine.load.payload.target.eq(LoadTarget.CODEBOOK),
                         engine.load.payload.address.eq(copy_code),
                         engine.load.payload.data.eq(codebook_read.data)]

        # The rows coming out of the engine: into the other half of the ping-pong buffer, or
        # (the last layer) into the cost unit or the split; the last row moves on to the next
        # layer, and the last layer's counts its frames as finished.
        out_batch_frames = Signal.like(batch_frames) if overlap and gathered else None
        if gathered and not overlap:
            out_batch_frames = batch_frames  # the sequencer waits for the read-out
        out_taken = Signal()
        m.d.comb += out_taken.eq(engine.outputs.valid & engine.outputs.ready)
        with m.If(out_layer == last):
            if batch == 1:
                m.d.comb += [cost_unit.scores.payload.eq(engine.outputs.payload),
                             cost_unit.scores.valid.eq(engine.outputs.valid),
                             engine.outputs.ready.eq(cost_unit.scores.ready)]
            else:
                m.d.comb += [engine.outputs.ready.eq(1),
                             split.write_address.eq(written),
                             split.write_data.eq(engine.outputs.payload),
                             split.write_enable.eq(engine.outputs.valid)]
        with m.Else():
            m.d.comb += [engine.outputs.ready.eq(1),
                         buffer_write.addr.eq(Mux(out_layer[0], spmv.max_rows, 0) + written),
                         buffer_write.data.eq(engine.outputs.payload),
                         buffer_write.en.eq(engine.outputs.valid)]
        with m.If(out_taken):
            m.d.sync += written.eq(written + 1)
            with m.If(written == out_last_row):
                m.d.sync += [written.eq(0), out_layer.eq(Mux(out_layer == last, 0, out_layer + 1))]
                with m.If(out_layer == last):
                    if batch > 1:
                        m.d.comb += [split.start.eq(1), split.frames.eq(out_batch_frames)]
                    m.d.comb += finished.eq(out_batch_frames if gathered else 1)
                    m.d.sync += frames.eq(frames + finished)

        with m.FSM() as sequencer:
            with m.State("IDLE"):
                if config.model_load:
                    # model writes: the codebook store here, the rest through the idle engine
                    with m.If(self.load.payload.target == LoadTarget.CODEBOOK):
                        m.d.comb += [codebook_write.en.eq(self.load.valid),
                                     self.load.ready.eq(1)]
                    with m.Else():
                        m.d.comb += [engine.load.payload.eq(self.load.payload),
                                     engine.load.valid.eq(self.load.valid),
                                     self.load.ready.eq(engine.load.ready)]
                with m.If(self.start):
                    m.d.comb += [viterbi.start.eq(1), copy_start.eq(1), copy_next_layer.eq(0)]
                    if gathered:
                        m.d.comb += gather.start.eq(1)
                    m.d.sync += [frames.eq(0), frames_in_flight.eq(0), pdf_index.eq(0),
                                 out_layer.eq(0), written.eq(0),
                                 finish_pending.eq(0), engine_cycles.eq(0),
                                 utterance_cycles.eq(0), depth.eq(0), status.eq(0)]
                    m.next = "FRAME"
            with m.State("FRAME"):
                m.d.comb += [self.busy.eq(1), in_utterance.eq(1)]
                if not gathered:
                    with m.If(finish_pending & (frames_in_flight == 0) & ~engine.busy):
                        m.next = "END"
                    with m.Elif(self.features.valid):
                        m.d.sync += layer.eq(0)
                        m.next = "LAYER_START"
                else:
                    with m.If(finish_pending & (frames_in_flight == 0) & gather.empty
                              & ~engine.busy):
                        m.next = "END"
                    with m.Elif(gather.batch_ready):
                        m.d.sync += [layer.eq(0), batch_frames.eq(gather.batch_frames)]
                        m.next = "LAYER_START"
            with m.State("LAYER_START"):
                m.d.comb += [self.busy.eq(1), running_layers.eq(1)]
                # the layer's codebook must be in; a batch's last layer waits until the split
                # has read the previous batch
                split_free = 1 if batch == 1 else (layer != last) | ~split.busy
                with m.If(~copying & ~copy_start & split_free & engine.start_ready):
                    m.next = "LAYER_GO"
            # The layer starts a cycle after its conditions hold, from the state alone: the
            # decision (the layer, the copier, the split) ran on into the engine's start and
            # across the chip into the splicer's read registers, the ULX3S's worst path
            # (13.81 ns, 11.91 of it routing). The conditions still hold: nothing starts the
            # engine or a copy in between, and the split's next start follows the read-out of
            # a last layer, which ended before this batch's second layer could start.
            with m.State("LAYER_GO"):
                m.d.comb += [self.busy.eq(1), running_layers.eq(1), engine.start.eq(1)]
                if gathered:
                    m.d.comb += gather.read_start.eq(1)
                m.d.sync += [read_index.eq(0), taken.eq(0), source_more.eq(cols != 0),
                             copy_issued.eq(0)]
                m.next = "LAYER_RUN"
            with m.State("LAYER_RUN"):
                m.d.comb += [self.busy.eq(1), running_layers.eq(1)]
                # the next layer's codebook: with two banks into the other bank's codebook
                # now, with one during this layer's read-out
                with m.If((1 if overlap else engine.reading_out) & ~copy_issued):
                    m.d.comb += [copy_start.eq(1),
                                 copy_next_layer.eq(Mux(layer == last, 0, layer + 1))]
                    m.d.sync += copy_issued.eq(1)
                # ungathered, layer 0 takes the host's values; otherwise it reads the
                # gathered frames through the reader like every later layer
                with m.If(0 if gathered else (layer == 0)):
                    m.d.comb += [source_payload.eq(self.features.payload),
                                 source_valid.eq(self.features.valid),
                                 self.features.ready.eq(source_ready)]
                with m.Else():
                    m.d.comb += [reading.eq(1),
                                 source_payload.eq(reader_fifo.r_data),
                                 source_valid.eq(reader_fifo.r_rdy),
                                 reader_fifo.r_en.eq(source_ready)]
                # the layer has computed (with one bank: and been read out)
                with m.If(engine.start_ready):
                    if gathered:
                        m.d.comb += gather.release.eq(layer == 0)
                    with m.If(layer == last):
                        if overlap and gathered:
                            m.d.sync += out_batch_frames.eq(batch_frames)
                        m.next = "FRAME"
                    with m.Else():
                        m.d.sync += layer.eq(layer + 1)
                        m.next = "LAYER_START"
            with m.State("END"):
                m.d.comb += [self.busy.eq(1), in_utterance.eq(1), end_beat.eq(1)]
                with m.If(viterbi.scores.ready):
                    m.next = "COLLECT"
            with m.State("COLLECT"):
                m.d.comb += [self.busy.eq(1), in_utterance.eq(1), viterbi.words.ready.eq(1)]
                with m.If(viterbi.words.valid):
                    with m.If(viterbi.words.payload.end):
                        m.d.sync += status.eq(
                            status | Mux(viterbi.trace_overflow, int(Status.TRACE_OVERFLOW), 0)
                            | Mux(viterbi.score_error, int(Status.SCORE_ERROR), 0))
                        m.next = "POP"
                    with m.Elif(depth == max_words):
                        m.d.sync += status.eq(status | int(Status.WORDS_LOST))
                    with m.Else():
                        m.d.comb += push.en.eq(1)
                        m.d.sync += depth.eq(depth + 1)
            with m.State("POP"):  # the word at depth - 1 is read during this cycle
                m.d.comb += [self.busy.eq(1), pop.addr.eq(depth - 1)]
                with m.If(depth == 0):
                    m.next = "STATUS"
                with m.Else():
                    m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.busy.eq(1), pop.addr.eq(depth - 1),
                             self.words.valid.eq(1), self.words.payload.word.eq(pop.data)]
                with m.If(self.words.ready):
                    m.d.sync += depth.eq(depth - 1)
                    m.next = "POP"
            with m.State("STATUS"):
                m.d.comb += [self.busy.eq(1), self.words.valid.eq(1),
                             self.words.payload.word.eq(status), self.words.payload.last.eq(1)]
                with m.If(self.words.ready):
                    m.next = "IDLE"
        if gathered:
            # frames are taken from start until the utterance's last batch has run
            taking = sequencer.ongoing("FRAME") | running_layers
            m.d.comb += [gather.features.payload.eq(self.features.payload),
                         gather.features.valid.eq(self.features.valid & taking),
                         self.features.ready.eq(gather.features.ready & taking),
                         gather.finish.eq(finish_pending)]
        return m
