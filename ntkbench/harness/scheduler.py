"""Sweep points as the unit of parallel work: one call of a claim's ``measure`` (the unit of the point cache) is
scheduled on a pool of local worker processes or on a Dask cluster, largest first; each claim's fit, figure and
files follow as soon as its last point is in.

The client (the process that runs ``ntkbench run``) keeps the store: workers only compute, and send each point's
rows back as a DataFrame, which the client caches (``OUT/.cache/points``) and, when a claim is complete, fits and
writes. Workers therefore need no shared file system (one does no harm: they never write to it), but they need
ntkbench at the same code: :func:`compute_point` refuses a point when the worker's
:func:`~ntkbench.harness.lifecycle.code_hash`
(the hash that keys the cache) differs from the client's, and :class:`DaskBackend` checks every worker at connect
time.

Backends (:func:`backend`): :class:`SerialBackend` (this process, point after point, claims in order),
:class:`PoolBackend` (``--jobs N``: N spawned processes, one thread each; a worker that dies breaks the pool, which
is restarted and the unfinished points resubmitted; the point whose worker died is named by its exit code, and after
:data:`MAX_POINT_CRASHES` such deaths it alone is lost; a death no point can be blamed for counts against
:data:`MAX_RESTARTS`) and :class:`DaskBackend`
(``--scheduler tcp://host:8786`` or ``local``: ``dask.distributed``, whose scheduler reruns the points of a worker
that died on another one, up to its ``distributed.scheduler.allowed-failures``, default 3). A worker whose
torch.func fails its self-check (:func:`transforms_work`) before or after a point ends itself, and is handled as one
that died: the point runs again elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import pickle
import queue
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.func import grad, jacrev, vmap

from . import registry, stop, store
from .lifecycle import (
    ClaimRun,
    Context,
    Result,
    Task,
    code_hash,
    finish_run,
    load_cached,
    measure_point,
    start_run,
    threads_per_worker,
)
from .spec import UsageError

#: times a broken local pool (a worker process died) is restarted with the unfinished points before they count as lost
MAX_RESTARTS = 3
#: times a point's own worker may die while measuring it (killed, out of memory, a crash, a broken torch.func) before
#: that point is lost — its claims err — while the pool goes on with the other points
MAX_POINT_CRASHES = 2
#: seconds :class:`DaskBackend` gives its client and local cluster to close; past twice that, the local cluster's
#: worker processes are killed and the run goes on (a cluster whose workers died with a Ctrl-C could wait forever)
CLOSE_SECONDS = 5.0
#: seconds :class:`DaskBackend` waits for the first worker of a remote scheduler
WORKER_TIMEOUT = 60.0
#: exit status of a worker that found its torch.func state broken (:func:`transforms_work`; EX_SOFTWARE)
BROKEN_EXIT = 70


class SchedulerError(UsageError):
    """The cluster cannot run this ntkbench (a malformed address, unreachable, no workers, workers with other code):
    nothing ran."""


#: the protocols of ``dask.distributed`` addresses that reach another process (``tcp://`` is the default)
PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$")


def check_address(address: str) -> str:
    """``address`` when it is ``local`` or a scheduler address ``[PROTOCOL://]HOST:PORT`` (protocol one of
    :data:`PROTOCOLS`, port 1 … 65535); a :class:`SchedulerError` saying what is wrong otherwise, before any
    connection is tried (a bad port would otherwise wait for the whole connection timeout)."""
    if address == "local":
        return address
    form = f"use 'local' or a scheduler address PROTOCOL://HOST:PORT (PROTOCOL: {', '.join(PROTOCOLS)})"
    protocol, sep, rest = address.partition("://")
    if not sep:
        protocol, rest = "tcp", address
    if protocol not in PROTOCOLS:
        raise SchedulerError(f"--scheduler {address!r}: unknown protocol {protocol!r}; {form}")
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not _HOST.match(host):
        raise SchedulerError(f"--scheduler {address!r} is not an address; {form}, e.g. tcp://127.0.0.1:8786")
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise SchedulerError(f"--scheduler {address!r}: the port must be an integer 1 … 65535, got {port!r}")
    return address


# ----- the unit of work ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Measure:
    """What a worker needs of a claim to measure a point: its ``measure`` travels by reference (module and name,
    as pickle sends functions); one that cannot (a lambda) travels as the claim's id, which the worker looks up in
    its own registry."""

    id: str
    measure: Callable[..., pd.DataFrame]

    def __reduce__(self):
        try:
            pickle.dumps(self.measure)
        except (pickle.PicklingError, AttributeError, TypeError):
            return _registered, (self.id,)
        return _Measure, (self.id, self.measure)


def _registered(claim_id: str) -> _Measure:
    return _Measure(claim_id, registry.get(claim_id).measure)


def identity() -> dict[str, str]:
    """What a worker must share with the client: the code hash that keys the cache, and the versions."""
    from .. import __version__

    return {"code": code_hash(), "ntkbench": __version__, "torch": torch.__version__, "host": socket.gethostname()}


def compute_point(claim: _Measure, point: Mapping[str, Any], device: str, dtype: torch.dtype, code: str,
                  threads: int | None = 1) -> tuple[str, Any]:
    """Measure one sweep point (in a worker): ``("ok", (rows, seconds))``, or ``("error", traceback)`` when the
    measurement raised or the worker's code differs from the client's (``code``). ``threads``: intra-op threads
    (workers: one, they are the parallelism: two processes with two threads each on two cores slow each other ~30×;
    ``None`` leaves them as they are, as in the client's own process). Before and after the point,
    :func:`transforms_work` checks torch.func: in a worker a failure ends the process (:func:`_broken`), so that the
    backend measures the point again on a fresh worker and its outcome (a value or an error) is not kept; in the
    client's own process (``threads=None``) it is the claim's error."""
    if threads is not None:
        torch.set_num_threads(threads)
    _untrimmed_malloc()
    if code != code_hash():
        me = identity()
        return "error", (f"worker {me['host']} (pid {os.getpid()}) runs ntkbench {me['ntkbench']} with code hash "
                         f"{me['code']}, the client {code}: install the client's ntkbench on every worker")
    if not transforms_work():
        return _broken(claim.id, point, "before", worker=threads is not None)
    t = time.perf_counter()
    try:
        rows = measure_point(claim, point, Context(device=device, dtype=dtype))
    except Exception:  # noqa: BLE001 - reported as the claim's error by the client
        outcome = "error", traceback.format_exc()
    else:
        outcome = "ok", (rows, time.perf_counter() - t)
    if not transforms_work():
        return _broken(claim.id, point, "after", worker=threads is not None)
    return outcome


def transforms_work() -> bool:
    """Whether torch.func still gives exact answers in this process: no transform level left on its stack, and
    ``vmap(grad)`` and ``vmap(jacrev)`` of two small float64 functions equal their derivatives exactly (a few ms).
    A ``--scheduler local`` run once had one worker's torch.func state break for good, so that every later point on
    it failed at its first transform (README, "Running on a cluster"); this tells such a worker from a claim that
    raises."""
    depth = getattr(getattr(torch._C, "_functorch", None), "get_dynamic_layer_stack_depth", None)  # private API
    try:
        if depth is not None and depth() != 0:  # compute_point runs outside any transform
            return False
        w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
        x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
        g = vmap(grad(lambda w, x: (w @ x) ** 2 / 2), in_dims=(None, 0))(w, x)  # row k: (w·x_k) x_k
        j = vmap(jacrev(lambda w, x: w * x), in_dims=(None, 0))(w, x)  # row k: diag(x_k)
        return torch.equal(g, (x @ w)[:, None] * x) and torch.equal(j, torch.diag_embed(x))
    except Exception:  # noqa: BLE001 - a transform that raises is a broken state too
        return False


def _broken(claim_id: str, point: Mapping[str, Any], when: str, *, worker: bool) -> tuple[str, str]:
    """torch.func failed :func:`transforms_work` ``when`` ("before" or "after") a point. In a worker: say so on
    stderr and end the process (exit status :data:`BROKEN_EXIT`); the pool is restarted, or the Dask nanny starts a
    new worker, and the point runs again (bounded: :data:`MAX_RESTARTS`, ``allowed-failures``). In the client's own
    process: the claim's error."""
    what = (f"torch.func gives wrong answers in process {os.getpid()} on {socket.gethostname()} {when} point "
            f"{dict(point)} of {claim_id}")
    if not worker:
        return "error", f"{what}: its state is broken; rerun in a fresh process (finished points are cached)"
    print(f"ntkbench: {what}: the worker exits, and the point is measured again by a fresh one", file=sys.stderr,
          flush=True)
    os._exit(BROKEN_EXIT)


@functools.lru_cache(maxsize=1)
def _untrimmed_malloc() -> bool:
    """Undo, in a worker, what a Dask nanny's ``MALLOC_TRIM_THRESHOLD_`` (64 KiB by default) does to glibc: any
    explicit trim threshold freezes the mmap threshold at 128 KiB, so every tensor above it is a fresh mmap whose
    pages fault in again on each allocation (a ci run of scaling/test-error spent 325 s in the kernel on a
    LocalCluster against 96 s on the local pool). Raising both thresholds (mmap 32 MiB, trim 256 MiB) restores heap
    reuse. Only when that variable is set, on glibc; returns whether it changed anything."""
    if not os.environ.get("MALLOC_TRIM_THRESHOLD_") or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters (malloc.h)
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 256 << 20))
    except (OSError, AttributeError):  # not glibc: nothing to undo
        return False


#: in a pool worker: the folder where it notes the point it is measuring (a file named by its pid; None elsewhere)
_RUNNING: str | None = None


def _tracked(tag: str | None, fn: Callable, *args: Any) -> Any:
    """Run ``fn(*args)`` in a pool worker, noting ``tag`` (the point's cache key) in the file
    ``_RUNNING/<pid>`` while it runs, so that when the worker dies its point can be named (:class:`PoolBackend`)."""
    mark = Path(_RUNNING, str(os.getpid())) if _RUNNING and tag else None
    if mark is not None:
        mark.write_text(tag, encoding="utf-8")
    try:
        return fn(*args)
    finally:  # not reached when the process dies: the note stays for the client to read
        if mark is not None:
            mark.unlink(missing_ok=True)


# ----- backends -----------------------------------------------------------------------------------------------------
class SerialBackend:
    """In this process, one point at a time, in the order of the claims (each claim finishes before the next)."""

    parallel = False
    workers = 1

    def submit(self, fn: Callable, *args: Any, priority: float = 0.0, tag: str | None = None) -> Future:
        fut: Future = Future()
        fut.set_result(fn(*args))  # KeyboardInterrupt goes straight to the caller
        return fut

    def rerun(self, exc: BaseException, fut: Any, tag: str) -> bool:
        return False

    def why_lost(self, tag: str) -> str:
        return ""

    def close(self, cancel: bool = False) -> None:
        pass


#: how often a pool worker checks that the process that started it is still there (seconds)
PARENT_POLL = 1.0


def _exit_text(code: int) -> str:
    """A worker's exit code in words: ``signal SIGKILL`` (killed, e.g. by the out-of-memory killer), ``status 70``."""
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}" + (" (torch.func broken)" if code == BROKEN_EXIT else "")


def _exit_with_parent(parent: int) -> None:
    """Exit this worker as soon as its parent is gone (killed by SIGKILL, or ended without shutting the pool): its
    parent pid then changes (the orphan is adopted by init or a subreaper). A worker never outlives its run."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="ntkbench-parent-watch", daemon=True).start()


def _init_worker(devices: list[str], counter, parent: int | None = None, running: str | None = None) -> None:
    global _RUNNING
    _RUNNING = running
    if parent is not None:
        _exit_with_parent(parent)
    torch.set_num_threads(1)
    if devices:  # one GPU per worker process, round robin
        with counter.get_lock():
            k = counter.value
            counter.value += 1
        torch.cuda.set_device(torch.device(devices[k % len(devices)]))


class PoolBackend:
    """``jobs`` spawned worker processes on this machine, one thread each; points start in submission order
    (largest first). A worker that dies (killed, out of memory, a crash) breaks the pool: a new one starts and the
    scheduler resubmits the unfinished points (:meth:`rerun`). The point whose worker died — the one that worker
    noted (:func:`_tracked`) if its exit code is not the pool's own SIGTERM to the others — gets a strike; after
    :data:`MAX_POINT_CRASHES` strikes it is lost alone, its claims err, and the rest go on. A break that no point can
    be blamed for counts against :data:`MAX_RESTARTS`, after which the unfinished points are lost."""

    parallel = True

    def __init__(self, jobs: int, device: str = "cpu"):
        import multiprocessing as mp

        self.workers = jobs
        self._ctx = mp.get_context("spawn")
        kind = torch.device(device).type
        self._devices = ([f"cuda:{i}" for i in range(torch.cuda.device_count())]
                         if kind == "cuda" and torch.device(device).index is None else [])
        self.unexplained = 0  # restarts after a break that no point could be blamed for
        self.crashes: dict[str, list[int]] = {}  # per point (its tag): the exit codes of its workers that died
        self._running = tempfile.mkdtemp(prefix="ntkbench-running-")
        self._start()

    def _start(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx, initializer=_init_worker,
                                         initargs=(self._devices, self._ctx.Value("i", 0), os.getpid(),
                                                   self._running))

    def submit(self, fn: Callable, *args: Any, priority: float = 0.0, tag: str | None = None) -> Future:
        fut = self._pool.submit(_tracked, tag, fn, *args)
        fut.pool = self._pool  # which pool it ran on: a broken pool is restarted once, not once per lost point
        return fut

    def rerun(self, exc: BaseException, fut: Any, tag: str) -> bool:
        """Whether the point ``tag``, whose future ended with ``exc``, is to be submitted again: its worker pool
        broke (restarted here, once per broken pool, after naming the point whose worker died), the point's own
        workers died fewer than :data:`MAX_POINT_CRASHES` times, and the breaks nobody was blamed for number at
        most :data:`MAX_RESTARTS`."""
        if not isinstance(exc, BrokenProcessPool):
            return False
        if getattr(fut, "pool", None) is self._pool:
            blamed = self._blame()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self.unexplained += not blamed
            self._start()
        return len(self.crashes.get(tag, ())) < MAX_POINT_CRASHES and self.unexplained <= MAX_RESTARTS

    def _blame(self, wait: float = 5.0) -> bool:
        """Give a strike to each point whose worker died of its own (an exit code other than 0 and the SIGTERM the
        pool sends the survivors of a break), from the notes the workers left; clear the notes. Whether one was
        found."""
        deadline = time.monotonic() + wait
        procs = dict(getattr(self._pool, "_processes", None) or {})  # private API: pid → Process
        found = False
        for pid, proc in procs.items():
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            code = proc.exitcode
            while code is None and time.monotonic() < deadline:  # reaped meanwhile by the pool's own thread, whose
                time.sleep(0.01)  # waitpid won: its status lands on the shared Process object
                code = proc.exitcode
            if code in (None, 0, -signal.SIGTERM):
                continue
            try:
                tag = Path(self._running, str(pid)).read_text(encoding="utf-8")
            except OSError:  # it died between points
                continue
            self.crashes.setdefault(tag, []).append(code)
            found = True
        for note in Path(self._running).iterdir():
            note.unlink(missing_ok=True)
        return found

    def why_lost(self, tag: str) -> str:
        """Why the point ``tag`` was not rerun: its workers' deaths, with their exit codes, or the restart budget."""
        codes = self.crashes.get(tag)
        if codes and len(codes) >= MAX_POINT_CRASHES:
            named = ", ".join(_exit_text(c) for c in codes)
            return (f"its worker died each of the {len(codes)} times it was measured ({named}); the other points "
                    "went on. ")
        return (f"the worker pool broke {self.unexplained} times without a point to blame (MAX_RESTARTS = "
                f"{MAX_RESTARTS}). ")

    def close(self, cancel: bool = False) -> None:
        """:meth:`_close`, then remove the workers' notes folder."""
        try:
            self._close(cancel)
        finally:
            shutil.rmtree(self._running, ignore_errors=True)

    def _close(self, cancel: bool) -> None:
        """Wait for the workers to finish (``cancel=False``), or stop them now: on a stop (Ctrl-C, SIGTERM) the
        points they are measuring are abandoned, every finished one being cached, and the workers are terminated,
        so that the run ends in seconds rather than when its longest running point would have finished (Python's
        exit otherwise joins the pool's workers)."""
        if not cancel:
            self._pool.shutdown(wait=True)
            return
        workers = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in workers:
            p.terminate()
        deadline = time.monotonic() + CLOSE_SECONDS
        for p in workers:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()


class DaskBackend:
    """Points as tasks of a ``dask.distributed`` cluster: ``address`` of a running scheduler (``tcp://host:8786``;
    workers started with ``dask worker ADDRESS --nthreads 1``, and ``--resources GPU=1`` for ``device="cuda"``, one
    GPU each), or ``"local"`` for a :class:`~distributed.LocalCluster` of ``jobs`` processes with one thread each.
    Every worker must run the client's ntkbench (checked at connect time: :class:`SchedulerError`). Priorities make
    the largest points start first; a worker that dies has its points rerun on another by the scheduler."""

    parallel = True

    def __init__(self, address: str, jobs: int | None = None, device: str = "cpu", *, progress: bool = False,
                 timeout: float = 30.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a dependency of ntkbench
            raise SchedulerError(f"--scheduler needs dask.distributed ({exc}); pip install distributed") from exc
        check_address(address)
        self._cluster = None
        self._gpu = torch.device(device).type == "cuda"
        try:
            if address == "local":
                self._cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                                             processes=True, resources={"GPU": 1} if self._gpu else None)
                self.client = Client(self._cluster)
            else:
                self.client = Client(address, timeout=timeout)
                self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise SchedulerError(f"--scheduler {address}: cannot use the cluster ({exc})") from exc
        self.address = address
        self._check_workers()
        from .dask_plugins import NoProfiler

        self.client.register_plugin(NoProfiler())  # also on workers that join later
        if progress:
            print(f"dask: {self.describe()}; dashboard {self.client.dashboard_link}", file=sys.stderr, flush=True)

    @property
    def workers(self) -> int:
        return max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))

    def _check_workers(self) -> None:
        mine = identity()
        try:
            theirs = self.client.run(identity)
        except Exception as exc:
            self.close()
            raise SchedulerError(f"--scheduler {self.address}: the workers cannot run ntkbench ({exc!r}); install "
                                 f"ntkbench {mine['ntkbench']} (code hash {mine['code']}) on every worker") from exc
        other = {w: i for w, i in theirs.items() if i["code"] != mine["code"]}
        if other:
            self.close()
            listed = "; ".join(f"{w} ({i['host']}): ntkbench {i['ntkbench']}, code {i['code']}"
                               for w, i in sorted(other.items()))
            raise SchedulerError(f"--scheduler {self.address}: {len(other)} of {len(theirs)} worker(s) run other "
                                 f"ntkbench code than this client (ntkbench {mine['ntkbench']}, code {mine['code']}):"
                                 f" {listed}. Install the client's ntkbench on every worker (the code hash keys the "
                                 "cache: points from other code would be wrong)")

    def submit(self, fn: Callable, *args: Any, priority: float = 0.0, tag: str | None = None) -> Any:
        return self.client.submit(fn, *args, priority=priority, pure=False,
                                  resources={"GPU": 1} if self._gpu else None)

    def rerun(self, exc: BaseException, fut: Any, tag: str) -> bool:
        return False  # the scheduler already reran it elsewhere (allowed-failures); KilledWorker means it gave up

    def why_lost(self, tag: str) -> str:
        return ""

    def close(self, cancel: bool = False) -> None:
        """Close the client (and the local cluster) within :data:`CLOSE_SECONDS` each, in a thread this one waits
        for at most twice that: past it, the local cluster's worker processes are killed (issue 39 item 6)."""
        client, cluster = getattr(self, "client", None), self._cluster
        if client is None and cluster is None:
            return
        pids = self._worker_pids()

        def shut() -> None:
            if client is not None:
                with contextlib.suppress(Exception):  # the cluster may be gone already
                    client.close(timeout=CLOSE_SECONDS)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=CLOSE_SECONDS)

        import threading

        closing = threading.Thread(target=shut, name="ntkbench-dask-close", daemon=True)
        closing.start()
        closing.join(2 * CLOSE_SECONDS + 1)
        if closing.is_alive():
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, 9)
        self.client, self._cluster = None, None

    def _worker_pids(self) -> list[int]:
        """The pids of the local cluster's worker processes ([] for a remote scheduler, whose workers are not
        ours to end)."""
        pids = []
        for nanny in getattr(self._cluster, "workers", {}).values() if self._cluster is not None else ():
            with contextlib.suppress(Exception):
                pids.append(int(nanny.process.process.pid))
        return pids

    def describe(self) -> str:
        where = "a local Dask cluster" if self._cluster is not None else f"the Dask scheduler {self.address}"
        return f"{where} with {self.workers} worker thread(s)"


def backend(jobs: int = 1, scheduler: str | None = None, device: str = "cpu", *, progress: bool = False):
    """The backend for ``--jobs`` and ``--scheduler``: Dask when ``scheduler`` is given (an address or ``local``,
    with ``jobs`` workers), else a local pool of ``jobs`` processes, else this process."""
    if scheduler:
        return DaskBackend(scheduler, jobs if jobs > 1 else None, device, progress=progress)
    return PoolBackend(jobs, device) if jobs > 1 else SerialBackend()


def run(tasks: Sequence[Task], *, jobs: int = 1, scheduler: str | None = None, out: str | os.PathLike | None = None,
        cache: str | os.PathLike | None = None, device: str = "cpu", dtype: torch.dtype = torch.float64,
        fresh: bool = False, progress: bool = False,
        on_result: Callable[[int, Result], None] | None = None) -> list[Result]:
    """Run every task (bad arguments raise :class:`UsageError` before any worker starts) with :func:`schedule` on
    the backend of ``jobs`` / ``scheduler`` (:func:`backend`); return the results in task order. In this process
    the intra-op threads follow :func:`~ntkbench.harness.lifecycle.threads_per_worker`; workers use one each."""
    runs = [start_run(t.claim, t.profile, t.overrides, control=t.control, device=device, dtype=dtype) for t in tasks]
    threads, note = threads_per_worker(1 if scheduler else jobs)
    if progress and note and not scheduler:
        print(note, file=sys.stderr)
    executor = backend(jobs, scheduler, device, progress=progress)
    before = torch.get_num_threads()
    torch.set_num_threads(threads if not executor.parallel else 1)  # with workers, this process only fits and draws
    try:
        return schedule(runs, executor, out=out, cache=cache, fresh=fresh, progress=progress, on_result=on_result)
    finally:
        torch.set_num_threads(before)
        executor.close()


# ----- which points first -------------------------------------------------------------------------------------------
def _point_id(claim_id: str, control: str | None, point: Mapping[str, Any]) -> str:
    """A point's identity across runs and code versions (not its seed offset: a reseed costs the same)."""
    plain = {k: v for k, v in point.items() if k != "seed_offset"}
    return json.dumps([claim_id, control, plain], sort_keys=True, default=str)


def recorded_seconds(out: str | os.PathLike | None, profile: str) -> dict[str, float]:
    """The seconds each point took in the runs recorded under ``out/<profile>`` (result.json ``timings``; results
    saved before timings were recorded give none)."""
    # Timings only order the points (largest first), so a damaged or hand-made result.json in OUT (a null timing,
    # wrong types) must never stop a run into that folder: such a file, or such an entry, is skipped, and its points
    # are estimated like any point without a record (load_results skips damaged files; the checks below skip the
    # entries that are not a point with a finite, non-negative number of seconds).
    saved = store.load_results(out, profile, variants=True) if out is not None else []
    return {_point_id(r.get("id", ""), r.get("control"), t["point"]): float(t["seconds"])
            for r in saved for t in r.get("timings") or ()
            if isinstance(t, Mapping) and isinstance(t.get("point"), Mapping) and _seconds(t.get("seconds"))}


def _seconds(value: Any) -> bool:
    """A recorded duration: a finite number >= 0 (not a bool, not null)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value >= 0)


def estimates(runs: Sequence[ClaimRun], units: Iterable[tuple[int, int]], known: Mapping[str, float]) -> dict:
    """Estimated seconds of each (run, point) unit: as recorded for that point, else the mean recorded for its claim,
    else the median of all records, else 1 s."""
    per_claim: dict[str, list[float]] = {}
    for key, s in known.items():
        per_claim.setdefault(json.loads(key)[0], []).append(s)
    fallback = float(pd.Series(list(known.values())).median()) if known else 1.0
    out = {}
    for r, i in units:
        run = runs[r]
        key = _point_id(run.claim.id, run.ctrl.name if run.ctrl else None, run.points[i])
        claim_s = per_claim.get(run.claim.id)
        out[r, i] = known.get(key, sum(claim_s) / len(claim_s) if claim_s else fallback)
    return out


# ----- the loop -----------------------------------------------------------------------------------------------------
def schedule(runs: Sequence[ClaimRun], executor: Any, *, out: str | os.PathLike | None = None,
             cache: str | os.PathLike | None = None, fresh: bool = False, progress: bool = False,
             on_result: Callable[[int, Result], None] | None = None) -> list[Result]:
    """Measure the sweep points of every run (:func:`~ntkbench.harness.lifecycle.start_run`) as units of work on
    ``executor``
    and finish each run as its last point arrives; return the results in the order of ``runs``. Cached points (in
    ``cache``, default ``out``) are not recomputed unless ``fresh``; the others are cached by this process as they
    arrive, so an interrupted run (Ctrl-C) resumes. A point that raises makes its claim ``error`` (with the
    traceback) and the others go on. ``on_result(index, result)`` is called as each run finishes."""
    cache = out if cache is None else cache
    results: list[Result | None] = [None] * len(runs)
    groups: dict[str, list[tuple[int, int]]] = {}  # one measurement per point key, delivered to every run that has
    for r, run in enumerate(runs):  # it (a control that changes only analysis parameters shares its claim's points)
        if not run.error:
            todo = list(range(len(run.points))) if fresh or cache is None else load_cached(run, cache)
            for i in todo:
                groups.setdefault(run.keys[i], []).append((r, i))
    keys = list(groups)
    if executor.parallel:  # largest first (the declared order breaks ties: sweeps list their small points first)
        known = recorded_seconds(out if out is not None else cache, runs[0].profile if runs else "")
        cost = estimates(runs, [u for g in groups.values() for u in g], known)
        keys.sort(key=lambda k: (-max(cost[u] for u in groups[k]), -groups[k][0][1], groups[k][0][0]))
    bars = _Bars(progress, total_points=sum(len(r.points) for r in runs), cached=sum(r.cached for r in runs),
                 claims=len(runs))
    waiting = [0] * len(runs)  # points of each run still to arrive
    for group in groups.values():
        for r, _ in group:
            waiting[r] += 1
    done: queue.SimpleQueue = queue.SimpleQueue()
    flying: dict[Any, str] = {}
    code = code_hash()

    def submit(key: str, rank: int) -> None:
        r, i = groups[key][0]
        run = runs[r]
        fut = executor.submit(compute_point, _Measure(run.claim.id, run.claim.measure), run.points[i],
                              run.ctx.device, run.ctx.dtype, code, 1 if executor.parallel else None,
                              priority=-rank, tag=key)
        flying[fut] = key
        fut.add_done_callback(done.put)

    def finish(r: int) -> None:
        if results[r] is None:
            results[r] = finish_run(runs[r], out)
            bars.claim_done()
            if on_result is not None:
                on_result(r, results[r])

    def handle(fut: Any) -> None:
        key = flying.pop(fut)
        rows = exc = error = None
        if not fut.cancelled():
            exc = fut.exception()
            if exc is not None and executor.rerun(exc, fut, key):  # its worker died: run it again
                submit(key, 0)
                return
            if exc is None:
                kind, payload = fut.result()
                if kind == "ok":
                    rows, seconds = payload
                    if cache is not None:  # also for a claim that erred meanwhile: finished work is kept
                        store.save_point(cache, key, rows, seconds=seconds)
                    bars.point_done()
                else:
                    error = payload
        for r, i in groups[key]:
            run = runs[r]
            waiting[r] -= 1
            if rows is not None:
                run.frames[i], run.seconds[i] = rows, seconds
                run.spent += seconds
            elif not run.error and (error or exc is not None):
                run.error = error or (f"point {i + 1} of {len(run.points)} ({run.points[i]}) was lost: "
                                      + executor.why_lost(key) + "".join(traceback.format_exception(exc)))
            if run.error or waiting[r] == 0:
                finish(r)
        for other, k in list(flying.items()):  # points that only erred claims still wait for: not needed
            if all(runs[r].error for r, _ in groups[k]):
                other.cancel()

    try:
        for r in range(len(runs)):  # nothing to measure (all cached, or the sweep could not be built)
            if waiting[r] == 0:
                finish(r)
        if executor.parallel:
            for rank, key in enumerate(keys):
                submit(key, rank)
        pending = [] if executor.parallel else keys
        while flying or pending:
            if pending and not flying:
                key = pending.pop(0)
                if all(runs[r].error for r, _ in groups[key]):
                    continue
                submit(key, 0)
            stop.check()  # a Ctrl-C whose KeyboardInterrupt Python swallowed (ntkbench.harness.stop)
            try:
                fut = done.get(timeout=0.2)
            except queue.Empty:
                continue
            if fut in flying:
                handle(fut)
    except BaseException:  # Ctrl-C (or a bug here): stop scheduling; every finished point is already cached
        for fut in list(flying):
            fut.cancel()
        executor.close(cancel=True)
        raise
    finally:
        bars.close()
    return [r for r in results if r is not None]


class _Bars:
    """One progress bar over the sweep points (done / cached / remaining) and one over the claims."""

    def __init__(self, enabled: bool, total_points: int, cached: int, claims: int):
        self.enabled = enabled
        self.cached, self.total, self.measured = cached, total_points, 0
        if enabled:
            from tqdm.auto import tqdm

            self.points = tqdm(total=total_points, initial=cached, desc="points", position=0)
            self.claims = tqdm(total=claims, desc="claims", position=1)
            self._note()

    def _note(self) -> None:
        self.points.set_postfix_str(f"measured {self.measured}, cached {self.cached}, "
                                    f"remaining {self.total - self.cached - self.measured}", refresh=False)

    def point_done(self) -> None:
        self.measured += 1
        if self.enabled:
            self._note()
            self.points.update(1)

    def claim_done(self) -> None:
        if self.enabled:
            self.claims.update(1)

    def close(self) -> None:
        if self.enabled:
            self.points.close()
            self.claims.close()
