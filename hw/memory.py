"""Memories whose reads never depend on a write to the same address in the same cycle.

A synchronous read port that is not transparent to a write port returns the *old* contents when
both hit one address in one cycle (read-first). Neither the iCE40's RAM4K nor every ECP5 mapping
promises that, so Yosys emulates it in logic: it delays the write by a cycle and adds an address
comparator and a bypass multiplexer per port. On the iCEBreaker that was 451 of its 5,280 LCs
and the worst path of the board design (host FSM -> write address -> comparator -> read data).

Most of the design's memories are written and read in different phases (a frame buffer filled,
then read; the hypothesis table, whose epsilon passes re-read a set only once the pipeline has
drained), so what a colliding read returns is never used. :class:`CollisionFreeMemory` says so:
it carries Yosys' ``no_rw_check`` attribute, and the board flow
(:func:`boards.collisions.relax_collisions`) marks its synchronous read ports "don't care on
collision", which needs no logic at all.

The claim is tested, not only argued: inside :func:`reads_see_writes` a
:class:`CollisionFreeMemory` elaborates its read ports transparent (a colliding read returns the
*new* data), and the unit tests that compare the RTL against the golden models run again in that
mode. A memory whose owner did use a colliding read would decode differently there.
"""

import contextlib
import contextvars

from amaranth.lib.memory import Memory, MemoryInstance

__all__ = ["CollisionFreeMemory", "reads_see_writes"]

NO_RW_CHECK = "no_rw_check"

_reads_see_writes = contextvars.ContextVar("reads_see_writes", default=False)


@contextlib.contextmanager
def reads_see_writes():
    """Elaborate every :class:`CollisionFreeMemory` made transparent within this block: a read
    that meets a write to its address in the same cycle returns the written data instead of
    the old. Outputs must not change; tests use this to check the memories' claim."""
    token = _reads_see_writes.set(True)
    try:
        yield
    finally:
        _reads_see_writes.reset(token)


class CollisionFreeMemory(Memory):
    """A :class:`~amaranth.lib.memory.Memory` whose owner never uses what a synchronous read
    returns when a write to the same address happens in the same cycle.

    Simulation keeps Amaranth's read-first behaviour (or write-first inside
    :func:`reads_see_writes`); synthesis may return anything on a collision, so no logic is
    spent on it. Parameters are :class:`~amaranth.lib.memory.Memory`'s.
    """

    def __init__(self, *, shape, depth, init, attrs=None, src_loc_at=0):
        super().__init__(shape=shape, depth=depth, init=init,
                         attrs={**(attrs or {}), NO_RW_CHECK: 1}, src_loc_at=src_loc_at + 1)

    def elaborate(self, platform):
        if not _reads_see_writes.get():
            return super().elaborate(platform)
        # Memory.elaborate with every synchronous read port transparent to every write port of
        # its domain (asynchronous reads always see the current contents)
        self.data.freeze()
        instance = MemoryInstance(data=self.data, attrs=self.attrs, src_loc=self.src_loc)
        write_ports = {port: instance.write_port(domain=port.domain, addr=port.addr,
                                                 data=port.data, en=port.en)
                       for port in self.write_ports}
        for port in self.read_ports:
            transparent_for = () if port.domain == "comb" else tuple(
                instance_port for write_port, instance_port in write_ports.items()
                if write_port.domain == port.domain)
            instance.read_port(domain=port.domain, data=port.data, addr=port.addr, en=port.en,
                               transparent_for=transparent_for)
        return instance
