"""The harness: what declares, schedules, stores and presents the claims — the registry (:mod:`.registry`), a run's
life (:mod:`.runner`) and its scheduling on workers (:mod:`.scheduler`), files and the point cache (:mod:`.store`),
the summary and the baseline comparison (:mod:`.report`), calibration and statistical power (:mod:`.calibrate`,
:mod:`.power`, :mod:`.outcome`), the reproduction plans and the catalogue (:mod:`.plans`, :mod:`.catalogue`), the
mitigation procedure (:mod:`.mitigation`), figures (:mod:`.figures`) and the command line (:mod:`.cli`). Nothing
here changes a measured row, so none of it is in the cache key (:func:`.runner.code_hash`). Each module is imported
on first use (``ntkbench.runner`` is ``ntkbench.harness.runner``)."""


def __getattr__(name: str):
    """A harness module on first attribute access (PEP 562): ``ntkbench.harness.runner`` after ``import ntkbench``."""
    if not name.startswith("_"):
        import importlib
        import importlib.util

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
