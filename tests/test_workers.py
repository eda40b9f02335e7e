"""sw.workers.SharedPool: jobs see the shared object without it being pickled, errors reach
the caller, and one worker runs jobs in place."""

import os

import pytest

from sw.workers import SharedPool


def _describe(shared, offset):
    return shared["values"][offset] + shared["add"](offset), os.getpid()


def _fail(shared, value):
    raise ValueError(f"bad value {value}")


@pytest.mark.parametrize("workers", [1, 2])
def test_jobs_read_the_shared_object(workers):
    # a lambda cannot be pickled: the workers must inherit it
    shared = {"values": list(range(100)), "add": lambda x: 1000 * x}
    with SharedPool(workers, shared) as pool:
        futures = [pool.submit(_describe, i) for i in range(20)]
        results = [f.result() for f in futures]
    assert [value for value, _ in results] == [i + 1000 * i for i in range(20)]
    in_place = {pid for _, pid in results} == {os.getpid()}
    assert in_place == (workers == 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_raises_in_the_caller(workers):
    with SharedPool(workers, None) as pool:
        future = pool.submit(_fail, 7)
        with pytest.raises(ValueError, match="bad value 7"):
            future.result()


def test_submit_outside_the_block_is_refused():
    pool = SharedPool(2, None)
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        pool.submit(_fail, 1)


@pytest.mark.parametrize("workers", [0, 1.5, True])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        SharedPool(workers, None)
