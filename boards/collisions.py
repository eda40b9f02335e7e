"""Let synthesis ignore read/write collisions on memories that say they never use one.

Amaranth writes every synchronous read port with ``COLLISION_X_MASK = 0`` (a colliding read
returns the old data), and Yosys honours the ``no_rw_check`` memory attribute only when
``memory_dff`` merges a register into an asynchronous port, which Amaranth's synchronous ports
never need. :func:`relax_collisions` closes that gap in the RTLIL handed to Yosys: the
synchronous read ports of a memory marked ``no_rw_check`` (:class:`hw.memory.CollisionFreeMemory`)
get a collision mask over every write port they are not transparent to.
"""

import re

from hw.memory import NO_RW_CHECK

__all__ = ["relax_collisions"]

_MODULE = re.compile(r"^module (\S+)$")
_MEMORY = re.compile(r"^  memory .* (\S+)$")
_CELL = re.compile(r"^  cell \$memrd_v2 ")
_PARAMETER = re.compile(r"^    parameter \\(\w+) (.*)$")
_MASK = re.compile(r"^(\d+)'([01]+)$")


def _marked_memories(lines: list[str]) -> set[tuple[str, str]]:
    """(module, memory) of every memory declared with the ``no_rw_check`` attribute."""
    marked, module, attributes = set(), None, []
    for line in lines:
        if found := _MODULE.match(line):
            module = found.group(1)
        elif line.startswith("  attribute "):
            attributes.append(line.split()[1])
        else:
            if (found := _MEMORY.match(line)) and f"\\{NO_RW_CHECK}" in attributes:
                marked.add((module, found.group(1)))
            attributes = []
    return marked


def _memid(value: str) -> str:
    """The memory a ``MEMID`` parameter names, as declared: ``"\\\\buffer"`` -> ``\\buffer``."""
    return value.strip('"').replace("\\\\", "\\")


def relax_collisions(rtlil: str) -> tuple[str, list[str]]:
    """``rtlil`` with the synchronous read ports of ``no_rw_check`` memories marked "undefined
    on a collision with a write port they are not transparent to"; also the memories changed,
    as ``module/memory``.

    Raises
    ------
    ValueError
        If a marked read port's masks are not the binary constants Amaranth writes.
    """
    lines = rtlil.split("\n")
    marked = _marked_memories(lines)
    relaxed = set()
    module = None
    index = 0
    while index < len(lines):
        if found := _MODULE.match(lines[index]):
            module = found.group(1)
        if not _CELL.match(lines[index]):
            index += 1
            continue
        end = lines.index("  end", index)
        parameters = {}
        for at in range(index + 1, end):
            if found := _PARAMETER.match(lines[at]):
                parameters[found.group(1)] = (at, found.group(2))
        memory = _memid(parameters["MEMID"][1])
        if (module, memory) in marked and parameters["CLK_ENABLE"][1] == "1":
            transparency = _MASK.match(parameters["TRANSPARENCY_MASK"][1])
            at, collision = parameters["COLLISION_X_MASK"]
            if transparency is None or _MASK.match(collision) is None:
                raise ValueError(f"memory {memory} in {module}: read port masks "
                                 f"{parameters['TRANSPARENCY_MASK'][1]!r} / {collision!r} are "
                                 f"not binary constants")
            width, bits = transparency.groups()
            opaque = "".join("0" if bit == "1" else "1" for bit in bits)
            if "1" in opaque:
                lines[at] = f"    parameter \\COLLISION_X_MASK {width}'{opaque}"
                relaxed.add(f"{module[1:]}/{memory[1:]}")
        index = end + 1
    return "\n".join(lines), sorted(relaxed)
