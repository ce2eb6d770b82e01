"""One worker of a shared study: claim trials, keep them alive, tell their results.

The budget (``n_trials``) counts the study's distinct trials, whoever runs them: a retry of a
trial whose worker died runs in the same slot as the trial it repeats, and a sample equal to an
earlier trial's is recorded as its duplicate (told that trial's value) and asked again, so no
configuration is trained twice. Claims happen under the study's :class:`~.lock.StudyLock`.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mmar_hydra.study.lock import StudyLock
from mmar_hydra.study.storage import StudySpec, open_storage, open_study, retry_callback

__all__ = ["Claim", "StudyWorker", "DUPLICATE_OF", "STOPPED", "WORKER", "retry_of"]

DUPLICATE_OF = "mmar_hydra.duplicate_of"  # user attr: this sample repeats trial N
STOPPED = "mmar_hydra.stopped"  # study user attr: the search stopped (e.g. stop_threshold)
WORKER = "mmar_hydra.worker"  # user attr: host:pid of the worker that ran the trial
_ASKS = 50  # asks per claim before the space counts as exhausted


def retry_of(trial: Any) -> int | None:
    """The trial number a re-queued trial repeats (None: not a retry)."""
    import warnings

    with warnings.catch_warnings():  # Optuna calls its own helper "experimental"
        warnings.simplefilter("ignore")
        return retry_callback().retried_trial_number(trial)


def _key(params: Mapping[str, Any]) -> tuple:
    return tuple(
        sorted((k, round(v, 12) if isinstance(v, float) else v) for k, v in params.items())
    )


@dataclass
class Claim:
    """A trial this worker runs now.

    Args:
        trial: the Optuna trial (its parameters are set).
        retry_of: the trial it repeats, when its first worker died.
    """

    trial: Any
    retry_of: int | None = None

    @property
    def number(self) -> int:
        return int(self.trial.number)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.trial.params)


class StudyWorker:
    """Claims and runs trials of one shared study.

    Args:
        spec: the storage and its timings.
        n_trials: the study's budget of distinct trials.
        distributions: ``{name: optuna distribution}``, the search space.
        sampler: the Optuna sampler (None: Optuna's default TPE).
        say: where progress lines go.
    """

    def __init__(
        self,
        spec: StudySpec,
        n_trials: int,
        distributions: Mapping[str, Any],
        sampler: Any = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.spec = spec
        self.n_trials = int(n_trials)
        self.distributions = dict(distributions)
        self.say = say
        self.lock = StudyLock(spec)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        with self.lock:  # the first worker creates the tables and the study: one at a time
            self.storage = open_storage(spec)
            self.study = open_study(spec, self.storage, sampler)

    def claim(self, n: int = 1) -> list[Claim]:
        """Up to ``n`` trials to run now, re-queued ones first.

        While nothing can be claimed but other workers' trials still run, waits (one of them
        may die and be re-queued); returns [] when the study is done or stopped.
        """
        from optuna.storages import fail_stale_trials
        from optuna.trial import TrialState

        while True:
            with self.lock:
                fail_stale_trials(self.study)
                claims = self._claim_now(n)
                trials = self.study.get_trials(deepcopy=False)
                busy = any(t.state == TrialState.RUNNING for t in trials)
            if claims or not busy or self.stopped():
                return claims
            time.sleep(self.spec.poll_s)

    def stopped(self) -> bool:
        """Whether a worker stopped the search (its trial reached the stop threshold)."""
        return bool(self.study.user_attrs.get(STOPPED))

    def stop(self, reason: str) -> None:
        """Stop the search for every worker: no trial is claimed after this."""
        self.study.set_user_attr(STOPPED, reason)

    def _claim_now(self, n: int) -> list[Claim]:
        from optuna.trial import TrialState

        if self.stopped():
            return []
        trials = self.study.get_trials(deepcopy=False)
        slots = sum(1 for t in trials if retry_of(t) is None and DUPLICATE_OF not in t.user_attrs)
        waiting = sum(1 for t in trials if t.state == TrialState.WAITING)
        seen = {_key(t.params): t for t in trials if t.params and DUPLICATE_OF not in t.user_attrs}
        claims: list[Claim] = []
        for _ in range(n):
            if waiting:
                trial = self.study.ask(self.distributions)  # Optuna pops the WAITING trial
                waiting -= 1
                frozen = self.storage.get_trial(trial._trial_id)
                claims.append(Claim(trial, retry_of(frozen)))
            elif slots < self.n_trials:
                trial = self._ask_distinct(seen)
                if trial is None:
                    break
                slots += 1
                claims.append(Claim(trial))
            else:
                break
            self.storage.record_heartbeat(claims[-1].trial._trial_id)
            claims[-1].trial.set_user_attr(WORKER, self.name)
        return claims

    def _ask_distinct(self, seen: dict[tuple, Any]) -> Any:
        """A trial whose sample no earlier trial had; None when the sampler finds none."""
        from optuna.trial import TrialState

        for _ in range(_ASKS):
            trial = self.study.ask(self.distributions)
            key = _key(trial.params)
            earlier = seen.get(key)
            if earlier is None:
                seen[key] = trial
                return trial
            trial.set_user_attr(DUPLICATE_OF, int(earlier.number))
            if getattr(earlier, "state", None) == TrialState.COMPLETE:
                self.study.tell(trial, earlier.value)  # the sampler learns it again, moves on
            else:
                self.study.tell(trial, state=TrialState.FAIL)
        self.say(f"study {self.spec.name}: the sampler finds no new sample ({_ASKS} asks)")
        return None

    @contextmanager
    def heartbeat(self, claims: list[Claim]) -> Iterator[None]:
        """Record the claims' heartbeats every ``heartbeat_s`` while the block runs."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.spec.heartbeat_s):
                for claim in claims:
                    try:
                        self.storage.record_heartbeat(claim.trial._trial_id)
                    except Exception:  # noqa: BLE001,S112 - a missed beat; the next one retries
                        continue

        thread = threading.Thread(target=beat, name="study-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def tell(self, claim: Claim, value: float | None, **attrs: Any) -> None:
        """Record a finished trial: its value (None / NaN: failed) and user attributes."""
        from optuna.trial import TrialState

        for key, item in attrs.items():
            if item is not None:
                claim.trial.set_user_attr(key, item)
        if value is None or math.isnan(float(value)):
            self.study.tell(claim.trial, state=TrialState.FAIL)
        else:
            self.study.tell(claim.trial, float(value))
