"""The Dask worker plugin that ntkbench installs on a cluster (``--scheduler``): imported by the workers, so that
it needs ``distributed`` only where a cluster is used."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin


class NoProfiler(WorkerPlugin):
    """Stop a worker's statistical profiler. It samples ``sys._current_frames()`` of the thread that runs the
    points every 10 ms, which CPython 3.11 does not make safe against a running thread (python/cpython#106883;
    Dask turned the profiler off on 3.11 once, dask/distributed#8916). On 3.11.7 a ``--scheduler local`` run of the
    whole ``ci`` catalogue once broke one worker's torch.func state for good — every later point on it failed in
    vmap — and the profiler is the suspected cause, not a proven one (README, "Running on a cluster"). The points
    gain nothing from it; the dashboard's profile page stays empty."""

    name = "ntkbench-no-profiler"
    idempotent = True

    def setup(self, worker) -> None:
        for name in ("profile", "profile-cycle"):  # removed, not stopped: a starting worker starts every one left
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()
