"""The device side of the host protocol: UART pins on one side, a recognizer core on the other.

For each good host frame (see hw/protocol.py) the controller acts once and answers once:

- ``START``: pulses ``start`` (a new utterance), answers ACK;
- ``FEATURES``: checks the length (sequence byte + ``feature_dims`` little-endian int16), streams
  the values out of ``features`` in order, answers ACK when the core has taken them all;
- ``END``: pulses ``finish``, collects the core's ``words`` (the element with ``last`` set is a
  status word, 0 when all is well) and answers WORDS with the word ids and the status;
- ``LOAD`` (between utterances only, else ERROR BUSY): checks every record first (memory, PE
  and address in range, whole records), then streams them out of ``load`` and answers ACK. A
  frame with one bad record is answered ERROR BAD_RECORD and writes nothing.

A frame whose sequence number and type repeat the last one handled is not acted on again: its
reply is sent again (the host retries when a reply was lost). Link errors (CRC, truncation,
oversize) and bad lengths or types are answered with ERROR and change nothing.
"""

from amaranth import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.config import LinkConfig
from hw.link import FrameReceiver, FrameSender
from hw.memory import CollisionFreeMemory
from hw.protocol import FrameType, LinkError, LoadFormat
from hw.uart import UARTReceiver, UARTTransmitter

__all__ = ["HostInterface", "host_load_layout", "word_layout"]

word_layout = data.StructLayout({"word": 16, "last": 1})


def host_load_layout(load_format: LoadFormat) -> data.StructLayout:
    """Payload of the ``load`` stream: one checked LOAD record."""
    return data.StructLayout({"memory": 2, "pe": max(1, (load_format.pes - 1).bit_length()),
                              "address": 8 * load_format.address_bytes,
                              "data": 8 * load_format.data_bytes})


class HostInterface(wiring.Component):
    """UART host link and protocol controller.

    Parameters
    ----------
    config : LinkConfig
        Clock, baud rate, payload and reply limits.
    feature_dims : int
        Values per FEATURES frame (the first layer's input size); ``2 * feature_dims + 1``
        bytes must fit ``config.max_payload``.
    load_format : LoadFormat, optional
        The LOAD records the recognizer takes; without it LOAD is an unknown frame type.
    """

    def __init__(self, config: LinkConfig, *, feature_dims: int,
                 load_format: LoadFormat | None = None):
        if not isinstance(config, LinkConfig):
            raise TypeError(f"config must be a LinkConfig, not {config!r}")
        if (isinstance(feature_dims, bool) or not isinstance(feature_dims, int)
                or not 1 <= feature_dims <= (config.max_payload - 1) // 2):
            raise ValueError(f"feature_dims must be an int from 1 to "
                             f"{(config.max_payload - 1) // 2} (max_payload "
                             f"{config.max_payload}), not {feature_dims!r}")
        if load_format is not None and 1 + load_format.record_bytes > config.max_payload:
            raise ValueError(f"a LOAD record of {load_format.record_bytes} bytes does not fit "
                             f"max_payload {config.max_payload}")
        self.config = config
        self.feature_dims = feature_dims
        self.load_format = load_format
        members = {
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "features": Out(stream.Signature(signed(16))),
            "start": Out(1),
            "finish": Out(1),
            "words": In(stream.Signature(word_layout)),
        }
        if load_format is not None:
            members["load"] = Out(stream.Signature(host_load_layout(load_format)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.uart_rx = uart_rx = UARTReceiver(config)
        m.submodules.uart_tx = uart_tx = UARTTransmitter(config)
        m.submodules.receiver = receiver = FrameReceiver(config)
        m.submodules.sender = sender = FrameSender(config)
        wiring.connect(m, uart_rx.bytes, receiver.bytes)
        wiring.connect(m, sender.bytes, uart_tx.bytes)
        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx)]

        # Words of the last WORDS reply; kept so that a repeated END can be answered again.
        m.submodules.reply_words = reply_words = CollisionFreeMemory(
            shape=16, depth=config.max_words + 1, init=[])
        word_write = reply_words.write_port()
        word_read = reply_words.read_port()

        frame = receiver.frames.payload
        sequence = Signal(8)
        last_sequence = Signal(8)
        last_type = Signal(8)
        have_last = Signal()
        index = Signal(range(max(config.max_payload, 2 * config.max_words + 2) + 1))
        low_byte = Signal(8)
        high_byte = Signal(8)
        word_count = Signal(range(config.max_words + 2))
        overflow = Signal()

        reply_type = Signal(8)
        reply_length = Signal(16)
        error_code = Signal(8)
        m.d.comb += [sender.frames.payload.type.eq(reply_type),
                     sender.frames.payload.length.eq(reply_length)]

        def reply(frame_type, length, *, remember=False, code=None):
            m.d.sync += [reply_type.eq(frame_type), reply_length.eq(length), index.eq(0)]
            if code is not None:
                m.d.sync += error_code.eq(code)
            if remember:
                m.d.sync += [last_sequence.eq(sequence), last_type.eq(frame.type),
                             have_last.eq(1)]
            m.next = "REPLY_HEADER"

        features_bytes = 1 + 2 * self.feature_dims
        # Where `index` stands, compared a state ahead and registered: the adders and
        # comparators on `index` ran on into the reply registers' enables (the iCEBreaker's
        # worst path once the memories' read-first logic was gone, 31.2 ns).
        last_value = Signal()  # OFFER: the value offered is the frame's last
        last_reply_byte = Signal()  # REPLY_BYTE: the byte offered is the reply's last
        # The frame's type and length, decoded in CHECK for DISPATCH: the 8- and 16-bit
        # comparisons in DISPATCH's conditions ran on into the reply registers
        is_start, is_features, is_end, is_load = (Signal(name=name) for name in (
            "is_start", "is_features", "is_end", "is_load"))
        features_length = Signal()  # a FEATURES frame's length
        sequence_only = Signal()  # the payload is the sequence byte alone
        # LOAD: each record is fetched byte by byte into `record` (little-endian), then checked
        # (first pass over the frame) or written (second pass)
        load_format = self.load_format
        record_size = load_format.record_bytes if load_format else 1
        record = Signal(8 * record_size)
        fetched = Signal(range(record_size + 1))
        writing_pass = Signal()
        utterance_open = Signal()  # START handled, END not yet: the model must not change
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += receiver.read_address.eq(0)
                with m.If(receiver.errors.valid):
                    m.d.comb += receiver.errors.ready.eq(1)
                    m.d.sync += error_code.eq(receiver.errors.payload)
                    m.d.sync += [reply_type.eq(FrameType.ERROR), reply_length.eq(1),
                                 index.eq(0)]
                    m.next = "REPLY_HEADER"
                with m.Elif(receiver.frames.valid):
                    m.next = "SEQUENCE"  # buffer byte 0 is read during this cycle
            with m.State("SEQUENCE"):  # registered before it is compared (block RAM output)
                m.d.comb += receiver.read_address.eq(0)
                m.d.sync += sequence.eq(receiver.read_data)
                m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [is_start.eq(frame.type == FrameType.START),
                             is_features.eq(frame.type == FrameType.FEATURES),
                             is_end.eq(frame.type == FrameType.END),
                             is_load.eq(frame.type == FrameType.LOAD),
                             features_length.eq(frame.length == features_bytes),
                             sequence_only.eq(frame.length == 1)]
                with m.If(frame.length == 0):
                    m.d.comb += receiver.frames.ready.eq(1)
                    reply(FrameType.ERROR, 1, code=LinkError.BAD_LENGTH)
                with m.Elif(have_last & (sequence == last_sequence)
                            & (frame.type == last_type)):
                    m.d.comb += receiver.frames.ready.eq(1)
                    m.next = "REPLAY"
                with m.Else():
                    m.next = "DISPATCH"
            with m.State("REPLAY"):
                with m.Switch(last_type):
                    with m.Case(FrameType.END):
                        m.d.sync += [reply_type.eq(FrameType.WORDS),
                                     reply_length.eq(2 * word_count), index.eq(0)]
                    with m.Default():
                        m.d.sync += [reply_type.eq(FrameType.ACK), reply_length.eq(0),
                                     index.eq(0)]
                m.next = "REPLY_HEADER"
            with m.State("DISPATCH"):
                with m.If(is_start):
                    m.d.comb += [self.start.eq(1), receiver.frames.ready.eq(1)]
                    m.d.sync += utterance_open.eq(1)
                    reply(FrameType.ACK, 0, remember=True)
                with m.Elif(is_features):
                    with m.If(~features_length):
                        m.d.comb += receiver.frames.ready.eq(1)
                        reply(FrameType.ERROR, 1, code=LinkError.BAD_LENGTH)
                    with m.Else():
                        m.d.sync += index.eq(1)
                        m.next = "READ_LOW"
                with m.Elif(is_end):
                    m.d.comb += self.finish.eq(1)
                    m.d.sync += [word_count.eq(0), overflow.eq(0)]
                    m.next = "COLLECT"
                if load_format is not None:
                    with m.Elif(is_load):
                        with m.If(utterance_open):
                            m.d.comb += receiver.frames.ready.eq(1)
                            reply(FrameType.ERROR, 1, code=LinkError.BUSY)
                        with m.Elif(sequence_only):  # the sequence byte, no record
                            m.d.comb += receiver.frames.ready.eq(1)
                            reply(FrameType.ERROR, 1, code=LinkError.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += [index.eq(1), writing_pass.eq(0)]
                            m.next = "LOAD_NEXT"
                with m.Else():
                    m.d.comb += receiver.frames.ready.eq(1)
                    reply(FrameType.ERROR, 1, code=LinkError.UNKNOWN_TYPE)
            # FEATURES: two buffer reads per value (one cycle latency each), both bytes
            # registered, then hand the value over. The core's ready depends on the value (zero
            # activations are skipped), so offering the buffer's read data directly put block
            # RAM clock-to-out, the engine's broadcast and this FSM in one path (ULX3S's worst).
            with m.State("READ_LOW"):
                m.d.comb += receiver.read_address.eq(index)
                m.d.sync += index.eq(index + 1)
                m.next = "READ_HIGH"
            with m.State("READ_HIGH"):
                m.d.comb += receiver.read_address.eq(index)
                m.d.sync += [low_byte.eq(receiver.read_data), index.eq(index + 1),
                             last_value.eq(index + 1 == features_bytes)]
                m.next = "LATCH_HIGH"
            with m.State("LATCH_HIGH"):
                m.d.sync += high_byte.eq(receiver.read_data)
                m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += [self.features.payload.eq(Cat(low_byte, high_byte)),
                             self.features.valid.eq(1)]
                with m.If(self.features.ready):
                    with m.If(last_value):
                        m.d.comb += receiver.frames.ready.eq(1)
                        reply(FrameType.ACK, 0, remember=True)
                    with m.Else():
                        m.next = "READ_LOW"
            # END: store words until the status word; more than max_words sets a status bit.
            with m.State("COLLECT"):
                m.d.comb += self.words.ready.eq(1)
                with m.If(self.words.valid):
                    last = self.words.payload.last
                    with m.If(last | (word_count < config.max_words)):
                        m.d.comb += [word_write.addr.eq(word_count),
                                     word_write.data.eq(self.words.payload.word),
                                     word_write.en.eq(1)]
                        m.d.sync += word_count.eq(word_count + 1)
                        with m.If(last & overflow):
                            m.d.comb += word_write.data.eq(self.words.payload.word | 0x8000)
                    with m.Else():
                        m.d.sync += overflow.eq(1)
                    with m.If(last):
                        m.d.comb += receiver.frames.ready.eq(1)
                        m.d.sync += utterance_open.eq(0)
                        reply(FrameType.WORDS, 2 * (word_count + 1), remember=True)
            if load_format is not None:
                self._load_states(m, receiver, frame, reply, index, record, fetched,
                                  writing_pass)
            # Replies: header, then the payload bytes.
            with m.State("REPLY_HEADER"):
                m.d.comb += sender.frames.valid.eq(1)
                with m.If(sender.frames.ready):
                    with m.If(reply_length == 0):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "REPLY_FETCH"
            with m.State("REPLY_FETCH"):
                m.d.comb += word_read.addr.eq(index >> 1)
                m.d.sync += last_reply_byte.eq(index + 1 == reply_length)
                m.next = "REPLY_BYTE"
            with m.State("REPLY_BYTE"):
                m.d.comb += [word_read.addr.eq(index >> 1), sender.payload.valid.eq(1)]
                with m.If(reply_type == FrameType.ERROR):
                    m.d.comb += sender.payload.payload.eq(error_code)
                with m.Elif(index[0]):
                    m.d.comb += sender.payload.payload.eq(word_read.data[8:])
                with m.Else():
                    m.d.comb += sender.payload.payload.eq(word_read.data[:8])
                with m.If(sender.payload.ready):
                    m.d.sync += index.eq(index + 1)
                    with m.If(last_reply_byte):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "REPLY_FETCH"
        return m

    def _load_states(self, m, receiver, frame, reply, index, record, fetched, writing_pass):
        """The FSM states of a LOAD frame: two passes over its records (check, then write)."""
        load_format = self.load_format
        size = load_format.record_bytes
        # where `index` stands in the frame, registered before it steers the FSM (the adder
        # and comparators into the index's enable were the iCEBreaker's worst path)
        at_end = Signal()
        cut_short = Signal()
        with m.State("LOAD_NEXT"):  # `index`: where the next record starts
            m.d.sync += [at_end.eq(index == frame.length),
                         cut_short.eq(index + size > frame.length)]
            m.next = "LOAD_RECORD"
        with m.State("LOAD_RECORD"):
            with m.If(at_end):
                with m.If(writing_pass):
                    m.d.comb += receiver.frames.ready.eq(1)
                    reply(FrameType.ACK, 0, remember=True)
                with m.Else():  # every record checked: write them
                    m.d.sync += [index.eq(1), writing_pass.eq(1)]
                    m.next = "LOAD_NEXT"
            with m.Elif(cut_short):  # the last record is cut short
                m.d.comb += receiver.frames.ready.eq(1)
                reply(FrameType.ERROR, 1, code=LinkError.BAD_LENGTH)
            with m.Else():
                m.d.sync += fetched.eq(0)
                m.next = "LOAD_FETCH"
        with m.State("LOAD_FETCH"):  # byte k is read in cycle k, shifted in during cycle k + 1
            m.d.comb += receiver.read_address.eq(index + fetched)
            m.d.sync += fetched.eq(fetched + 1)
            with m.If(fetched != 0):
                m.d.sync += record.eq(Cat(record[8:], receiver.read_data))
            with m.If(fetched == size):
                m.next = "LOAD_CHECK"
        address_start = 16
        data_start = address_start + 8 * load_format.address_bytes
        memory = record[0:8]
        pe = record[8:16]
        address = record[address_start:data_start]
        # a memory number beyond ModelMemory has depth 0, so no address is below it
        depth = 0
        for value, words in reversed(list(enumerate(load_format.depths))):
            depth = Mux(memory == value, words, depth)
        # the check is registered before it steers the FSM: the depth mux and the address
        # comparison take a cycle of their own (with them, the 16-PE ECP5 build's worst path)
        record_ok = Signal()
        with m.State("LOAD_CHECK"):
            m.d.sync += record_ok.eq((pe < load_format.pes) & (address < depth))
            m.next = "LOAD_USE"
        with m.State("LOAD_USE"):
            with m.If(~writing_pass):
                with m.If(record_ok):
                    m.d.sync += index.eq(index + size)
                    m.next = "LOAD_NEXT"
                with m.Else():
                    m.d.comb += receiver.frames.ready.eq(1)
                    reply(FrameType.ERROR, 1, code=LinkError.BAD_RECORD)
            with m.Else():
                m.d.comb += [self.load.valid.eq(1),
                             self.load.payload.memory.eq(memory),
                             self.load.payload.pe.eq(pe),
                             self.load.payload.address.eq(address),
                             self.load.payload.data.eq(record[data_start:])]
                with m.If(self.load.ready):
                    m.d.sync += index.eq(index + size)
                    m.next = "LOAD_NEXT"
