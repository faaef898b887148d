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
