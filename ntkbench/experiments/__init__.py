"""The experiments: what each claim measures at one sweep point, a pure function of the point and the run context
that returns rows (``measure=`` of a :class:`~ntkbench.harness.registry.Claim`), one module per claim family, and the
trained-ensemble building blocks they share (:mod:`.trained`). With the engine (the modules of ``ntkbench`` that
compute) they are the code that the cache of sweep points is keyed by
(:func:`ntkbench.harness.lifecycle.code_hash`); the claims (:mod:`ntkbench.claims`: checks, statistics, figures) and
the harness are not, so editing an analysis keeps the measured points. An experiment imports the engine and other
experiments, never the claims or the harness (``tests/test_rooms.py``)."""

#: seed_offset k shifts every initialization seed by k·SEED_STRIDE (members per point stay below it); part of the
#: experiments' arithmetic, so it lives here, where the cache key sees it
SEED_STRIDE = 1000
