"""Fixtures shared across test modules, and the order CI's two workers take the tests in."""

import contextlib
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hw.memory import reads_see_writes

# The quick pipeline is the suite's most expensive fixture (about two minutes). The tests that use
# it are put in one group, so that pytest-xdist's ``--dist loadgroup`` (pyproject's addopts) runs
# them on one worker, where the session-scoped fixture is built once for all of them.
QUICK_PIPELINE_GROUP = "quick_pipeline"

# Long tests first, so neither worker is left with a build while the other idles at the end.
_FIRST_MARKERS = ("fpga", "verilator", "icarus")


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have finished."""
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class QuickPipeline:
    """One ``asrhw model pipeline --quick`` run: where it wrote, and what it cost."""

    run: Path
    corpus: Path
    cpu_seconds: float
    wall_seconds: float


@pytest.fixture(scope="session")
def quick_pipeline(tmp_path_factory) -> QuickPipeline:
    """The quick pipeline's corpus and run directory (its exported 90 %-sparse model inside)."""
    from sw.cli import main

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed to build the corpus")
    root = tmp_path_factory.mktemp("quick_pipeline")
    start, start_cpu = time.perf_counter(), cpu_seconds()
    assert main(["model", "pipeline", "--quick", "--corpus", str(root / "corpus"), "--out",
                 str(root / "run"), "--no-progress"]) == 0
    return QuickPipeline(root / "run", root / "corpus", cpu_seconds() - start_cpu,
                         time.perf_counter() - start)


# What a read returns when a write hits its address in the same cycle: Amaranth's read-first, or
# the write's data. Synthesis may return either for a CollisionFreeMemory, so a test marked
# ``collisions`` runs in both modes and must pass in both.
COLLISION_MODES = ("read-first", "write-first")


@pytest.fixture(autouse=True)
def collision_mode(request):
    """The collision mode the test's hardware is elaborated in (``read-first`` unless the test
    is marked ``collisions`` and runs in both)."""
    mode = getattr(request, "param", COLLISION_MODES[0])
    with reads_see_writes() if mode == "write-first" else contextlib.nullcontext():
        yield mode


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("collisions") is not None:
        metafunc.parametrize("collision_mode", COLLISION_MODES, indirect=True)


# tryfirst: the group marks must be on the items before pytest-xdist reads them into node ids
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "quick_pipeline" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(QUICK_PIPELINE_GROUP))

    def rank(item):
        if item.get_closest_marker("xdist_group") is not None:
            return 0
        for position, marker in enumerate(_FIRST_MARKERS, start=1):
            if item.get_closest_marker(marker) is not None:
                return position
        return len(_FIRST_MARKERS) + 1

    # a stable sort: the same order on every worker, as pytest-xdist requires
    items.sort(key=rank)
