"""code_strings: the safe forms real MMARs use run without eval; anything else needs allow_code."""

from __future__ import annotations

import ast
import builtins
import subprocess
import sys

import pytest

from mmar_hydra.components.code_strings import from_engine, is_code_string, parse_code_string
from mmar_hydra.errors import CodeNotAllowedError, ConfigError


@pytest.fixture
def no_eval(monkeypatch):
    """Fail the test if anything calls eval or exec (libraries the test uses imported first)."""
    import monai.handlers  # noqa: F401 - torch and monai exec code while importing

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec was called for a safe form")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)


def _safe(text: str, scope: dict | None = None):
    return parse_code_string(text, allow_code=False).evaluate(scope or {})


@pytest.mark.parametrize(
    "value,expected",
    [
        ("#@model.parameters()", True),
        ("lambda x: x['loss']", True),
        ("  lambda x: None", True),
        ("lambda: 1", True),
        ("lambdas are fun", False),
        ("plain text", False),
        ("@model", False),  # a reference, handled by the builder, not code
        (3, False),
        (None, False),
    ],
)
def test_is_code_string(value, expected):
    assert is_code_string(value) is expected


def test_safe_lambdas_from_real_mmars(no_eval):
    batch = {"loss": 0.5, "pred": [1, 2], "label": 3, "image_meta_dict": {"filename": "a"}}
    assert _safe("lambda x: x['loss']")(batch) == 0.5
    assert _safe("lambda x: (x['pred'], x['label'])")(batch) == ([1, 2], 3)
    assert _safe("lambda x: None")(batch) is None
    assert _safe("lambda x: x['image_meta_dict']")(batch) == {"filename": "a"}
    assert _safe("lambda x: x['pred'][0]")(batch) == 1
    assert _safe("lambda x: x['pred'][-1]")(batch) == 2
    assert _safe("lambda out: out['image_meta_dict']['filename']")(batch) == "a"


def test_safe_references(no_eval):
    import torch

    net = torch.nn.Linear(2, 3)
    params = parse_code_string("#@model.parameters()", allow_code=False)
    assert params.refs == ("model",)
    assert [p.shape for p in params.evaluate({"model": net})] == [(3, 2), (3,)]
    other = parse_code_string("#@my_net2.parameters()", allow_code=False)
    assert other.refs == ("my_net2",)
    bare = parse_code_string("#@dataset", allow_code=False)
    assert bare.refs == ("dataset",) and bare.evaluate({"dataset": "D"}) == "D"


@pytest.mark.parametrize(
    "text",
    [
        "#monai.handlers.from_engine(['pred', 'label'])",
        "#monai.handlers.from_engine(['loss'], first=True)",
        "#monai.handlers.from_engine(['image_meta_dict'])",
        "#monai.handlers.from_engine(keys=['pred'], first=False)",
        "#from_engine('loss', True)",
    ],
)
def test_from_engine_matches_monai(text, no_eval):
    ours = parse_code_string(text, allow_code=False)
    assert ours.refs == ()
    fn = ours.evaluate({})
    from monai.handlers import from_engine as monai_from_engine

    # MONAI's function from the same literal arguments (parsed, not evaluated)
    node = ast.parse(text[1:], mode="eval").body
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    reference = monai_from_engine(*args, **kwargs)
    one = {"pred": 1, "label": 2, "loss": 0.3, "image_meta_dict": {"f": "a"}}
    batch = [one, {"pred": 4, "label": 5, "loss": 0.3, "image_meta_dict": {"f": "b"}}]
    assert fn(one) == reference(one)
    assert fn(batch) == reference(batch)


def test_from_engine_helper_shapes():
    items = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert from_engine(["a", "b"])(items) == ([1, 3], [2, 4])
    assert from_engine(["a"], first=True)(items) == 1
    assert from_engine("a")({"a": 7}) == (7,)
    with pytest.raises(TypeError, match="dict or a list of dicts"):
        from_engine(["a"])(5)


@pytest.mark.parametrize(
    "text,code",
    [
        ("#__import__('os').system('id')", "__import__('os').system('id')"),
        ("lambda x: x.__class__", "lambda x: x.__class__"),
        ("lambda x: __import__('os')", "lambda x: __import__('os')"),
        ("lambda x, y: x['a']", "lambda x, y: x['a']"),
        ("lambda x=print('hi'): None", "lambda x=print('hi'): None"),  # defaults run code
        ("#@model.parameters", "@model.parameters"),
        ("#monai.handlers.from_engine([k for k in 'ab'])", None),
        ("#torch.zeros(3)", "torch.zeros(3)"),
    ],
)
def test_other_code_is_refused_quoting_what_would_run(text, code):
    with pytest.raises(CodeNotAllowedError) as err:
        parse_code_string(text, allow_code=False, where="train.handlers[2].args.x", file="c.json")
    e = err.value
    assert (code or text[1:]) in e.what
    assert e.path == "train.handlers[2].args.x" and e.file == "c.json"
    assert "set allow_code=true to run it" in e.fix


@pytest.mark.parametrize("allow", [False, True])
def test_syntax_errors_are_config_errors_either_way(allow):
    with pytest.raises(ConfigError, match="invalid code string"):
        parse_code_string("lambda x: x[", allow_code=allow, where="a.b")
    with pytest.raises(ConfigError, match="invalid code string"):
        parse_code_string("#@model.parameters(", allow_code=allow, where="a.b")


def test_allow_code_evaluates_expressions_with_refs_and_libraries():
    import torch

    code = parse_code_string("#@a.weight.shape[0] + @b", allow_code=True)
    assert code.refs == ("a", "b")
    assert code.evaluate({"a": torch.nn.Linear(2, 5), "b": 1}) == 6
    assert parse_code_string("#int(numpy.arange(4).sum())", allow_code=True).evaluate({}) == 6
    assert parse_code_string("#torch.ones(2).sum().item()", allow_code=True).evaluate({}) == 2
    double = parse_code_string("lambda x: x * 2", allow_code=True).evaluate({})
    assert double(4) == 8


def test_unknown_ref_in_scope_is_a_config_error():
    code = parse_code_string("#@modle.parameters()", allow_code=False, where="train.optimizer")
    with pytest.raises(ConfigError, match="'@modle'") as err:
        code.evaluate({"model": object()})
    assert err.value.path == "train.optimizer"


def test_module_import_does_not_import_torch():
    check = (
        "import sys, mmar_hydra.components.code_strings as c;"
        "c.parse_code_string(\"lambda x: x['a']\", allow_code=False);"
        "assert 'torch' not in sys.modules and 'monai' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=120)
