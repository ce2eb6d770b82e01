"""Clara AutoML search blocks: parsing, validation, a trial's config, seeded sequence."""

from __future__ import annotations

import copy
import json

import pytest

from mmar_hydra.automl.controller import read_plan
from mmar_hydra.automl.sampler import sample_sequence
from mmar_hydra.errors import ConfigError
from mmar_hydra.reader.search_apply import apply_sample
from mmar_hydra.reader.search_space import parse_space


def _load(clara_examples, folder, name):
    return json.loads((clara_examples / "public" / folder / "config" / name).read_text())


@pytest.mark.parametrize("folder", ["cte_automl_40", "cte_automl_41"])
def test_all_examples_parse_without_problems(clara_examples, folder):
    for f in sorted((clara_examples / "public" / folder / "config").glob("trn_autoML_*.json")):
        space = parse_space(json.loads(f.read_text()), file=f)
        assert space.params and not space.problems, f


def test_loss_optimizer_enum_switches_one_alternative(clara_examples):
    cfg = _load(clara_examples, "cte_automl_40", "trn_autoML_Loss_Optimizer.json")
    space = parse_space(cfg)
    names = [p.name for p in space.params]
    trial = apply_sample(cfg, space, dict.fromkeys(names, 0))
    assert trial["train"]["loss"]["name"] == "FocalLoss"
    assert trial["train"]["optimizer"]["name"] == "Novograd"
    plain = apply_sample(cfg, space, {})
    assert plain["train"]["loss"]["name"] == "DiceLoss"  # first alternative
    assert "search" not in json.dumps(plain) and "apply" not in plain["train"]["loss"]


def test_tagged_prob_is_shared_and_float_ranges_map(clara_examples):
    cfg = _load(clara_examples, "cte_automl_40", "trn_autoML_LR_LP.json")
    space = parse_space(cfg)
    assert space.hydra_params()["+automl.p0_learning_rate"] == "interval(0.0001,0.001)"
    sample = {p.name: 0.3 for p in space.params if "myProb" in p.name}
    trial = apply_sample(cfg, space, sample)
    probs = [t["args"]["prob"] for t in trial["train"]["pre_transforms"] if "prob" in t["args"]]
    assert probs.count(0.3) == 2


def test_check_reports_every_problem(clara_examples):
    cfg = copy.deepcopy(_load(clara_examples, "cte_automl_40", "trn_autoML_LR_LP.json"))
    cfg["train"]["lr_scheduler"]["search"][0]["args"] = ["nogamma"]
    cfg["search"][0]["targets"] = [1.0, 0.1]
    cfg["train"]["pre_transforms"][-2]["apply"] = {"prob": "otherTag"}
    problems = [e.what for e in parse_space(cfg).problems]
    assert len(problems) == 3, problems
    assert any("'nogamma' is not an argument" in p for p in problems)
    assert any("otherTag" in p for p in problems)


def test_switch_used_twice_in_a_list_is_refused(clara_examples):
    cfg = copy.deepcopy(_load(clara_examples, "cte_automl_40", "trn_autoML_Loss_Optimizer.json"))
    cfg["train"]["loss"][1]["apply"] = {"@disabled": "mySearchLoss1"}
    problems = [e.what for e in parse_space(cfg).problems]
    assert any("used by 2 alternatives" in p for p in problems), problems


def test_same_seed_same_sequence(clara_examples):
    space = parse_space(_load(clara_examples, "cte_automl_40", "trn_autoML_LR_LP.json"))
    first = sample_sequence(space, 3, seed=7)
    assert first == sample_sequence(space, 3, seed=7)
    assert first != sample_sequence(space, 3, seed=8)
    assert len({round(s["p0_learning_rate"], 12) for s in first}) == 3


def test_controller_plan_and_byoc_refused(clara_examples):
    plan = read_plan(_load(clara_examples, "cte_automl_40", "config_automl.json"))
    assert (plan.max_rounds, plan.stop_threshold, plan.num_mmars_to_keep) == (8, 1.0, 30)
    with pytest.raises(ConfigError, match="Clara-internal") as err:
        read_plan(_load(clara_examples, "cte_automl_40", "config_automl_BYO_RandomController.json"))
    assert "TPESampler" in err.value.format()
