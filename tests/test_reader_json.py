"""Strict JSON loading: missing files, syntax errors with line/column, duplicate keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmar_hydra.errors import ConfigError
from mmar_hydra.reader.jsonfile import load_json


def test_loads_object(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"epochs": 2, "train": {"loss": {"name": "DiceLoss"}}}')
    assert load_json(path) == {"epochs": 2, "train": {"loss": {"name": "DiceLoss"}}}


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert load_json(path) == {"a": 1}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as err:
        load_json(tmp_path / "nope.json", what="datalist")
    assert err.value.file.endswith("nope.json")
    assert "datalist" in err.value.what and err.value.fix


def test_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "epochs": 2,\n  "lr": 1e-4,\n}\n')  # trailing comma
    with pytest.raises(ConfigError) as err:
        load_json(path)
    e = err.value
    assert "line 4, column 1" in e.what
    assert e.file == f"{path}:4:1"
    assert "bad.json" in e.format() and "trailing commas" in e.expected


def test_syntax_error_quotes_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{\n  \"a\": 1,\n  'b': 2\n}")
    with pytest.raises(ConfigError) as err:
        load_json(path)
    assert "line 3, column 3" in err.value.what
    assert "'b': 2" in err.value.fix


def test_duplicate_key_refused_with_path_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text(
        '{\n "train": {\n  "loss": {"name": "DiceLoss"},\n  "loss": {"name": "FocalLoss"}\n }\n}'
    )
    with pytest.raises(ConfigError, match="duplicate key 'loss'") as err:
        load_json(path)
    assert err.value.path == "train.loss"
    assert "lines 3, 4" in err.value.what


def test_same_key_in_different_objects_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text('{"a": {"name": "x"}, "b": {"name": "y"}, "c": [{"name": 1}, {"name": 2}]}')
    assert load_json(path)["c"][1] == {"name": 2}


def test_duplicate_inside_list_item(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"pre": [{"name": "A"}, {"name": "B", "args": {}, "args": {}}]}')
    with pytest.raises(ConfigError) as err:
        load_json(path)
    assert err.value.path == "pre[1].args"


@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "3"])
def test_top_level_must_be_object(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="not an object"):
        load_json(path)


def test_binary_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(ConfigError, match="cannot read"):
        load_json(path)
