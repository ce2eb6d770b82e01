"""The shared study's parts in one process (fast): search space, storage spec, claims, errors.

The multi-process behaviour (killed workers, late joiners, PostgreSQL) is in the slow
``test_shared_study.py`` and ``test_automl_shared.py``.
"""

from __future__ import annotations

import socket

import pytest

from mmar_hydra.errors import ConfigError
from mmar_hydra.study.storage import StudySpec, masked, sqlite_url


def test_the_sweep_grammar_becomes_optuna_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from mmar_hydra.study.space import parse_space

    space, fixed = parse_space(
        [
            "learning_rate=interval(0.0005, 0.01)",
            "wd=tag(log, interval(1e-5, 1e-2))",
            "depth=range(2, 5)",
            "train.model.args.channels=choice([4,8],[8,16])",
            "epochs=3",
            "epochs=4",  # a later override of the same key wins
        ]
    )
    assert space["learning_rate"] == FloatDistribution(0.0005, 0.01)
    assert space["wd"] == FloatDistribution(1e-5, 1e-2, log=True)
    assert space["depth"] == IntDistribution(2, 4)
    assert space["train.model.args.channels"] == CategoricalDistribution(["[4,8]", "[8,16]"])
    assert fixed == ["epochs=4"]


def test_storage_urls_are_checked_and_passwords_never_shown():
    assert masked("postgresql://me:secret@db:5432/optuna") == "postgresql://me:***@db:5432/optuna"
    with pytest.raises(ConfigError, match="no database URL"):
        StudySpec("redis://host/0", "s")
    with pytest.raises(ConfigError, match="heartbeat"):
        StudySpec("sqlite:///x.db", "s", heartbeat_s=10, grace_s=5)


def test_workers_share_one_budget_and_never_train_a_sample_twice(tmp_path):
    from optuna.distributions import CategoricalDistribution
    from optuna.samplers import RandomSampler
    from optuna.trial import TrialState

    from mmar_hydra.study.worker import DUPLICATE_OF, StudyWorker

    spec = StudySpec(sqlite_url(tmp_path / "s.db"), "s", heartbeat_s=1, grace_s=30)
    space = {"x": CategoricalDistribution([1, 2, 3, 4, 5])}
    a = StudyWorker(spec, 4, space, RandomSampler(seed=0), say=str)
    b = StudyWorker(spec, 4, space, RandomSampler(seed=0), say=str)  # same seed: same samples
    first, second = a.claim(3), b.claim(3)
    assert (len(first), len(second)) == (3, 1)  # the study's budget, not each worker's
    for claim in first + second:
        a.tell(claim, float(claim.params["x"]))
    assert a.claim(1) == [] and b.claim(1) == []
    trials = a.study.get_trials()
    real = [t for t in trials if DUPLICATE_OF not in t.user_attrs]
    assert len(real) == 4 and all(t.state == TrialState.COMPLETE for t in real)
    assert len({t.params["x"] for t in real}) == 4  # duplicates were asked again
    assert (tmp_path / "s.db.lock").is_file()


def test_an_unreachable_postgresql_server_is_a_clean_error():
    from mmar_hydra.study.worker import StudyWorker

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = StudySpec(f"postgresql://me:pw@127.0.0.1:{port}/optuna", "s")
    with pytest.raises(ConfigError) as err:
        StudyWorker(spec, 2, {}, say=str)
    text = err.value.format()
    assert "cannot use the study storage postgresql://me:***@127.0.0.1" in text
    assert "pw@" not in text
