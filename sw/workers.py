"""Independent CPU-bound jobs on several cores, all reading one large object without copying it.

Once the dense model exists, the acoustic-model pipeline's work is a set of independent jobs
(a pruning schedule per method, a sharing-and-measuring run per model), each on one BLAS thread
(the fastest setting for their small matrix products). A process pool runs them side by side.
The frames they all read (hundreds of MB) are not pickled into every job: the workers are
forked after the frames are in memory and find them in this module (copy-on-write, never
written).

With one worker, jobs run in the calling process when they are submitted. The results are
the same; only the order in which they finish changes.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

__all__ = ["SharedPool"]

# what forked workers inherit: set in the parent just before the pool forks them
_SHARED: dict = {}


def _call(function, args, kwargs):
    """Worker side: ``function(shared, *args, **kwargs)``."""
    return function(_SHARED["value"], *args, **kwargs)


class SharedPool:
    """A pool of forked worker processes whose jobs all receive one shared object.

    Parameters
    ----------
    workers : int
        Processes (1 runs every job in the calling process at submission).
    shared : object
        Passed as the first argument of every job; inherited by the workers, never pickled.

    Use as a context manager; :meth:`submit` returns a :class:`concurrent.futures.Future`.
    Leaving the block waits for the running jobs and cancels the queued ones (after an error,
    the queued work is not done for nothing).
    """

    def __init__(self, workers: int, shared):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an int >= 1, not {workers!r}")
        self.workers = workers
        self._shared = shared
        self._executor = None
        self._open = False

    @property
    def inline(self) -> bool:
        """True when jobs run in the calling process (one worker)."""
        return self.workers == 1

    def __enter__(self) -> SharedPool:
        self._open = True
        if not self.inline:
            if _SHARED:
                raise RuntimeError("a SharedPool is already open in this process")
            _SHARED["value"] = self._shared
            # fork, so that the workers inherit _SHARED instead of receiving a pickled copy
            self._executor = ProcessPoolExecutor(self.workers,
                                                 mp_context=multiprocessing.get_context("fork"))
        return self

    def __exit__(self, *exc_info) -> None:
        self._open = False
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            _SHARED.clear()

    def submit(self, function, *args, **kwargs) -> Future:
        """Run ``function(shared, *args, **kwargs)``; a module-level function (workers find
        it by name)."""
        if not self._open:
            raise RuntimeError("SharedPool.submit outside its `with` block")
        if self._executor is not None:
            return self._executor.submit(_call, function, args, kwargs)
        future = Future()
        try:
            future.set_result(function(self._shared, *args, **kwargs))
        except Exception as error:  # handed to the caller through the future, like a worker's
            future.set_exception(error)
        return future
