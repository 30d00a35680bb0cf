"""Independent training jobs (model x seed) side by side on the worker processes of one machine.

A reproduction trains many small models that never talk to each other. Small MLPs train fastest
on one CPU thread, so on a machine with more cores than one training can use, running the jobs
side by side is the cheap way to use it (``repro run <id> --jobs N``). Every job seeds itself
(:func:`harness.train.trainer.seed_everything`), so its result does not depend on which
worker ran it or in what order: one worker and N workers give bitwise the same metrics (tested
on AdaTT in tests/adatt/test_experiment.py). :func:`harness.study.run_study` runs every paper's
(variant, seed) jobs through here. This is process-level parallelism of independent jobs; training one model across
processes is torch.distributed's business (:mod:`harness.train.distributed`).

Workers are started with ``spawn`` (forking a process whose OpenMP pool is running can hang) and
receive the shared inputs once, when they start, not once per job. They are started with SIGINT
ignored, so Ctrl-C in a terminal reaches only the parent, which stops the workers and raises
``KeyboardInterrupt`` once (instead of one traceback per worker).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Sequence, TypeVar

import torch

from harness.experiment import NullProgress, Progress
from harness.quiet import quiet_library_noise

Job = TypeVar("Job")
Result = TypeVar("Result")
JobFunction = Callable[[Any, Job, Progress], Result]

_worker_function: Callable[..., Any] | None = None
_worker_shared: Any = None


def _start_worker(function: Callable[..., Any], shared: Any, threads: int) -> None:
    """Worker initializer: keep the job function and the shared inputs, use `threads` torch threads,
    and drop the library noise the parent drops (a spawned worker starts without its filters)."""
    global _worker_function, _worker_shared
    _worker_function, _worker_shared = function, shared
    torch.set_num_threads(threads)
    quiet_library_noise()


def _run_in_worker(job: Any) -> Any:
    """Run one job in a worker; live progress stays in the worker (the parent reports completions)."""
    assert _worker_function is not None, "worker used before _start_worker"
    return _worker_function(_worker_shared, job, NullProgress())


def run_jobs(function: JobFunction[Job, Result], shared: Any, jobs: Sequence[Job], workers: int,
             progress: Progress, summarize: Callable[[Job, Result], str]) -> list[Result]:
    """``[function(shared, job, progress) for job in jobs]``, on up to `workers` processes.

    `function` must be a module-level function (workers import it by name) and `shared` picklable.
    With one worker the jobs run here, in order, with live `progress`; with more, each worker
    uses as many torch threads as the caller has now, and `progress` gets one line per finished
    job (``summarize(job, result)``). Results come back in the order of `jobs`. A job's exception is
    raised here, after the running jobs are cancelled.
    """
    if workers <= 1 or len(jobs) <= 1:
        return [function(shared, job, progress) for job in jobs]
    context = multiprocessing.get_context("spawn")
    results: list[Any] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context, initializer=_start_worker,
                             initargs=(function, shared, torch.get_num_threads())) as pool:
        with _sigint_ignored():  # the workers spawned here inherit it
            futures = {pool.submit(_run_in_worker, job): index for index, job in enumerate(jobs)}
        progress.log(f"{len(jobs)} jobs on {min(workers, len(jobs))} worker processes "
                     f"({torch.get_num_threads()} torch thread(s) each)")
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                index = futures[future]
                results[index] = future.result()
                progress.log(f"[{done:>3}/{len(jobs)}] {summarize(jobs[index], results[index])}")
        except KeyboardInterrupt:
            _stop_workers(pool)
            raise
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this process for the block (spawned children keep it ignored); then restore it."""
    try:
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes (they ignore SIGINT) so that an interrupt returns at once."""
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()
