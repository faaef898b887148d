"""The config mechanism on its own sections: keys, types, values, overrides, assignments, YAML files."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Union

import pytest

from core.errors import UserError
from core.schema import (
    ConfigError,
    check,
    dump_yaml,
    from_mapping,
    load_yaml,
    parse_assignment,
    to_mapping,
    with_overrides,
)


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    mode: Literal["a", "b"] = "a"

    def __post_init__(self):
        check(self.lr > 0, "lr", self.lr, "must be > 0")


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    sizes: tuple[int, ...] = (1, 2)
    limit: Optional[int] = None
    either: Union[int, str] = 0
    flag: bool = False


def test_a_mapping_becomes_a_frozen_tree_and_back():
    tree = from_mapping(Outer, {"name": "x", "inner": {"lr": "1e-2"}, "sizes": [3], "either": "s"})
    assert tree == Outer("x", Inner(lr=0.01), (3,), None, "s")  # YAML 1.1 reads 1e-2 as a string: still a float
    assert from_mapping(Outer, to_mapping(tree)) == tree


@pytest.mark.parametrize(("mapping", "message"), [
    ({}, "x.yaml: name is required but missing"),
    ({"name": "x", "nmae": 1}, "x.yaml: nmae is not a known field (did you mean 'name'?); known fields: name, inner"),
    ({"name": 3}, "x.yaml: name is 3, but must be a string"),
    ({"name": "x", "flag": "yes"}, "x.yaml: flag is 'yes', but must be true or false"),
    ({"name": "x", "limit": 1.5}, "x.yaml: limit is 1.5, but must be an integer"),
    ({"name": "x", "inner": {"mode": "c"}}, "x.yaml: inner.mode is 'c', but must be one of 'a', 'b'"),
    ({"name": "x", "inner": {"lr": 0.0}}, "x.yaml: inner.lr is 0.0, but must be > 0"),
    ({"name": "x", "sizes": [1, "2"]}, "x.yaml: sizes[1] is '2', but must be an integer"),
    ({"name": "x", "either": 1.5}, "x.yaml: either is 1.5, but must be an integer or must be a string"),
])
def test_each_broken_rule_is_one_line_naming_file_field_value_and_rule(mapping, message):
    with pytest.raises(ConfigError) as err:
        from_mapping(Outer, mapping, source="x.yaml")
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert isinstance(err.value, UserError)


def test_overrides_are_validated_and_unknown_paths_refused():
    tree = Outer("x")
    assert with_overrides(tree, {"inner.lr": 0.5}).inner.lr == 0.5
    with pytest.raises(ConfigError, match="inner.lr is -1"):
        with_overrides(tree, {"inner.lr": -1})
    with pytest.raises(ConfigError, match="inner.nope is not a field"):
        with_overrides(tree, {"inner.nope": 1})


def test_assignments_read_their_value_as_yaml():
    assert parse_assignment("train.lr=1e-3") == ("train.lr", "1e-3")  # a string YAML 1.1 leaves to the float field
    assert parse_assignment("a.b=[1, 2]") == ("a.b", [1, 2]) and parse_assignment("a=true") == ("a", True)
    with pytest.raises(ConfigError, match="must look like section.field=value"):
        parse_assignment("novalue")


def test_yaml_files_round_trip_and_errors_name_the_line(tmp_path):
    path = tmp_path / "c.yaml"
    dump_yaml(Outer("x", sizes=(4,)), path)
    assert from_mapping(Outer, load_yaml(path)) == Outer("x", sizes=(4,))
    path.write_text("name: x\n  bad: [\n")
    with pytest.raises(ConfigError, match=r"c.yaml: YAML error at line 2"):
        load_yaml(path)
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping of sections"):
        load_yaml(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_yaml(tmp_path / "missing.yaml")


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("text", "rule"), [
    (_bomb(9), r"expands to \d+ values through YAML aliases, over the limit of 100000"),  # 10**9 values
    ("a: &a [1, *a]\n", r"holds a YAML alias inside the value it names \(a loop\)"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nests too deeply"),
])
def test_yaml_built_to_expand_is_refused_fast(tmp_path, text, rule):
    import time

    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"^{path}: {rule}"):
        load_yaml(path)
    assert time.perf_counter() - start < 5


def test_aliases_within_the_limit_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {lr: 0.5}\nouter: {inner: *b}\n")
    assert load_yaml(path)["outer"] == {"inner": {"lr": 0.5}}


def test_oversized_config_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.truncate((1 << 20) + 1)  # sparse: nothing of it is ever read
    with pytest.raises(ConfigError, match=r"is 1048577 bytes, over the limit of 1048576 for a config file"):
        load_yaml(path)


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf"), "nan", "inf", "1e999", 10 ** 400])
def test_non_finite_numbers_are_refused_where_a_number_is_meant(raw):
    with pytest.raises(ConfigError, match=r"inner\.lr is .*, but must be a finite number"):
        from_mapping(Outer, {"name": "x", "inner": {"lr": raw}})


def test_yaml_nan_in_a_file_names_the_file_and_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\ninner: {lr: .nan}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: inner\.lr is nan, but must be a finite number"):
        from_mapping(Outer, load_yaml(path), source=str(path))
