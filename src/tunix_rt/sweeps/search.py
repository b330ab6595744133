"""The Optuna side of a sweep: a study rebuilt from the sweep's recorded trials, then asked
for new trials, asked whether a running trial should be pruned, or asked for importances.

Why rebuilt, not Optuna's RDB storage: our database already holds everything a study is
(each trial's params and Optuna system attributes in sweeps.trial_meta, its state in the
trial run's status, its intermediate values in run_metrics, its value in the run's
evaluation record). Rebuilding an in-memory study from those rows on every controller step
keeps one source of truth (no second copy that can disagree with the runs after a crash
between two commits), needs no Optuna tables in our migrations, and works on the async
drivers we already use (RDB storage wants a synchronous driver). The cost is rebuilding a
study of at most a few hundred trials per step: milliseconds. Samplers are seeded with
seed + number of trials already asked, so a rebuilt study asks exactly what the first would.

Everything here is CPU work on plain data; callers run it in a thread.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState, create_trial

from tunix_rt.sweeps.schema import ParamSpec, SweepRequest

optuna.logging.set_verbosity(optuna.logging.WARNING)
# constant_liar and PED-ANOVA are marked experimental: one warning per controller step.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
log = logging.getLogger(__name__)

MIN_TRIALS_FOR_IMPORTANCE = 2
HYPERBAND_REDUCTION = 3


@dataclass
class TrialRecord:
    """A trial as the study needs it. state: one of OPTUNA_STATES' keys."""

    number: int
    params: dict[str, Any]
    state: str
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)


# Our trial states -> Optuna's. A pending run is RUNNING to Optuna too: it was asked and
# the sampler must not suggest it again (constant liar treats it as in flight).
OPTUNA_STATES = {
    "pending": TrialState.RUNNING,
    "running": TrialState.RUNNING,
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "cancelled": TrialState.FAIL,
}


def distribution_of(param: ParamSpec) -> BaseDistribution:
    if param.type == "categorical":
        return CategoricalDistribution(list(param.choices or []))
    assert param.low is not None and param.high is not None
    if param.type == "int":
        step = int(param.step or 1)
        return IntDistribution(int(param.low), int(param.high), log=param.log, step=step)
    return FloatDistribution(param.low, param.high, log=param.log, step=param.step)


def make_sampler(request: SweepRequest, seed: int, asked: int) -> optuna.samplers.BaseSampler:
    trial_seed = (seed + asked) % 2**31
    if request.sampler == "random":
        return optuna.samplers.RandomSampler(seed=trial_seed)
    if request.sampler == "grid":
        grid = {name: param.grid_values() or [] for name, param in request.space.items()}
        return optuna.samplers.GridSampler(grid, seed=seed)
    # A few random trials before TPE models the space; constant_liar keeps parallel trials
    # from all being suggested at the same spot.
    startup = max(2, min(10, request.n_trials // 3))
    return optuna.samplers.TPESampler(
        seed=trial_seed, n_startup_trials=startup, constant_liar=request.max_parallel > 1
    )


def make_pruner(request: SweepRequest) -> optuna.pruners.BasePruner:
    if request.pruner == "median":
        # Optuna's default waits for 5 finished trials: too late for a small sweep.
        startup = max(1, min(5, request.n_trials // 4))
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    if request.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource="auto", reduction_factor=HYPERBAND_REDUCTION
        )
    return optuna.pruners.NopPruner()


def build_study(
    sweep_name: str, request: SweepRequest, seed: int, trials: list[TrialRecord]
) -> optuna.Study:
    """An in-memory study holding `trials` (stable name: Hyperband brackets hash it)."""
    study = optuna.create_study(
        study_name=sweep_name,
        storage=optuna.storages.InMemoryStorage(),
        direction=request.objective.direction,
        sampler=make_sampler(request, seed, len(trials)),
        pruner=make_pruner(request),
    )
    distributions = {name: distribution_of(param) for name, param in request.space.items()}
    for record in sorted(trials, key=lambda t: t.number):
        state = OPTUNA_STATES[record.state]
        params = {k: v for k, v in record.params.items() if k in distributions}
        value = record.value if state == TrialState.COMPLETE else None
        study.add_trial(
            create_trial(
                state=state,
                params=params,
                distributions={k: distributions[k] for k in params},
                value=value,
                intermediate_values={
                    step: v for step, v in record.intermediate.items() if math.isfinite(v)
                },
                system_attrs=record.system_attrs,
            )
        )
    return study


def ask_params(study: optuna.Study, request: SweepRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next trial's params and the Optuna system attributes to persist with it."""
    trial = study.ask()
    params: dict[str, Any] = {}
    for name, param in request.space.items():
        params[name] = _suggest(trial, name, param)
    frozen = study.get_trials(deepcopy=False)[-1]
    return params, _plain(frozen.system_attrs)


def _suggest(trial: optuna.Trial, name: str, param: ParamSpec) -> Any:
    if param.type == "categorical":
        return trial.suggest_categorical(name, list(param.choices or []))
    assert param.low is not None and param.high is not None
    if param.type == "int":
        step = int(param.step or 1)
        return trial.suggest_int(name, int(param.low), int(param.high), step=step, log=param.log)
    return trial.suggest_float(name, param.low, param.high, step=param.step, log=param.log)


def prune_decisions(
    study: optuna.Study, candidates: set[int] | None = None
) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """Running trial numbers the pruner stops (among `candidates`, default all), and every
    trial's system attributes after asking (successive halving records its rungs there;
    they must persist)."""
    pruner = study.pruner
    stop: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not trial.intermediate_values:
            continue
        if candidates is not None and trial.number not in candidates:
            continue
        if pruner.prune(study, _fresh(study, trial)):
            stop.append(trial.number)
    attrs = {t.number: _plain(t.system_attrs) for t in study.get_trials(deepcopy=False)}
    return stop, attrs


def _fresh(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial:
    return study._storage.get_trial(trial._trial_id)


def _plain(attrs: dict[str, Any]) -> dict[str, Any]:
    """System attributes as JSON-storable values (Optuna keeps tuples, numpy scalars)."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        if hasattr(value, "item"):
            return value.item()
        return value

    return {str(k): convert(v) for k, v in attrs.items()}


def param_importances(study: optuna.Study) -> dict[str, float]:
    """PED-ANOVA importances over the completed trials. Optuna's default evaluator (fANOVA)
    needs scikit-learn, which tunix-rt does not ship; PED-ANOVA is Optuna's own, needs
    nothing else and is meant for few trials."""
    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return {name: float(value) for name, value in importances.items()}
