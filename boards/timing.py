"""The worst path of a placed and routed design, from nextpnr's ``--report`` JSON.

nextpnr reports one critical path per clock pair as a list of segments (clock-to-out, logic,
routing, setup), each naming the cells it joins. A person tuning Fmax wants to know where the
path starts and ends and whether logic or routing dominates it; this module says that much.
"""

from __future__ import annotations

__all__ = ["worst_path"]

# nextpnr's segment types that are not routing: the cells' own delays
_CELL_DELAYS = ("clk-to-q", "logic", "setup", "source", "sink")


def worst_path(report: dict) -> dict | None:
    """Summarize the slowest clock-to-clock path of ``report["critical_paths"]``; None if
    nextpnr gave none.

    Returns
    -------
    dict
        ``from`` and ``to``: the first and last cells; ``delay_ns``: the path's total;
        ``routing_ns`` and ``cell_ns``: how much of it is wires and how much cells;
        ``logic_levels``: the logic cells passed through.
    """
    # Paths to and from the pins (``<async>``) do not limit the clock's Fmax.
    paths = [path["path"] for path in report.get("critical_paths", [])
             if path.get("path") and "<async>" not in (path.get("from"), path.get("to"))]
    if not paths:
        return None
    segments = max(paths, key=lambda path: sum(segment["delay"] for segment in path))
    routing = sum(s["delay"] for s in segments if s["type"] == "routing")
    cells = sum(s["delay"] for s in segments if s["type"] in _CELL_DELAYS)
    return {"from": segments[0]["from"]["cell"], "to": segments[-1]["to"]["cell"],
            "delay_ns": round(routing + cells, 2), "routing_ns": round(routing, 2),
            "cell_ns": round(cells, 2),
            "logic_levels": sum(s["type"] == "logic" for s in segments)}
