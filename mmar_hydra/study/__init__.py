"""One Optuna study shared by many workers through a database (SQLite or PostgreSQL).

Used by the ``shared_optuna`` Hydra sweeper (``hparams_search``, :mod:`.sweeper`) and by
``task=automl automl.storage=URL`` (:mod:`mmar_hydra.automl.shared`). Workers are started
independently (several ``python -m mmar_hydra -m ...`` processes, on one machine or many);
they meet only in the database:

- :mod:`.storage` opens the study (Optuna's RDB storage with heartbeats, a stale trial failed
  and re-queued by ``RetryFailedTrialCallback``) and turns connection problems into clean errors;
- :mod:`.lock` is the one cross-process lock a claim needs (a file lock beside a SQLite file,
  a PostgreSQL advisory lock), so the budget is never overshot by two workers at once;
- :mod:`.worker` claims trials (re-queued ones first, new ones while the budget lasts), keeps
  their heartbeats and tells their results; a worker with nothing to claim waits while others
  still run, so a trial whose worker was killed is retried by one that is alive;
- :mod:`.listing` reads a study back for ``task=compare runs=optuna:URL/STUDY``.
"""
