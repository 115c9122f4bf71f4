"""to_jsonable / from_jsonable: the one way results and configurations go to JSON and back."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pytest

from medadv_desktop.engine.serialization import dumps, from_jsonable, to_jsonable
from medadv_desktop.errors import ResultFormatError


@dataclass
class Inner:
    name: str
    value: float | None = None


@dataclass
class Outer:
    items: list[Inner]
    best: Inner | None = None
    counts: dict[str, int] = field(default_factory=dict)
    pair: tuple[float, float] = (0.0, 1.0)
    bounds: list[tuple[float, float]] = field(default_factory=list)
    flag: bool = False
    ratio: float = 0.5


def test_round_trip_of_nested_dataclasses():
    obj = Outer(items=[Inner("a", 1.5), Inner("b")], best=Inner("c", 2.0), counts={"x": 3}, pair=(0.25, 0.75),
                bounds=[(-160.0, 240.0)], flag=True, ratio=2)
    back = from_jsonable(Outer, json.loads(dumps(obj)))
    assert back == obj and isinstance(back.items[0], Inner) and isinstance(back.pair, tuple)
    assert isinstance(back.ratio, float) and isinstance(back.bounds[0], tuple)


def test_unknown_keys_are_dropped_and_defaults_fill_missing_ones():
    back = from_jsonable(Outer, {"items": [{"name": "a", "extra": 1}], "from_a_newer_medadv": {"x": 1}})
    assert back == Outer(items=[Inner("a")])


def test_optional_and_non_finite_floats():
    assert from_jsonable(Outer, {"items": [], "best": None}).best is None
    # to_jsonable writes NaN/inf as null; a plain float field reads it back as NaN
    assert to_jsonable(Outer(items=[], ratio=math.nan))["ratio"] is None
    assert math.isnan(from_jsonable(Outer, {"items": [], "ratio": None}).ratio)
    assert from_jsonable(float | None, None) is None and from_jsonable(int | None, 3.0) == 3


@pytest.mark.parametrize("data, where", [
    ({"best": None}, "items"),                                   # required key missing
    ({"items": [{"name": 3}]}, "items[0].name"),                 # text expected
    ({"items": "abc"}, "items"),                                 # list expected
    ({"items": [], "flag": "yes"}, "flag"),                      # true/false expected
    ({"items": [], "counts": {"x": 1.5}}, "counts.x"),           # whole number expected
    ({"items": [], "pair": [1.0]}, "pair"),                      # two values expected
])
def test_wrong_shapes_name_the_key(data, where):
    with pytest.raises(ResultFormatError) as err:
        from_jsonable(Outer, data)
    assert f"'{where}'" in str(err.value)


def test_not_an_object():
    with pytest.raises(ResultFormatError):
        from_jsonable(Outer, [1, 2])
