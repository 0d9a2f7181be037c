"""`content_chars` is exact: the length Python's json gives (the spec's reference, §3), for
every JSON value — its orjson fast path included (floats are where the two writers differ)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.sources.common import content_chars

# Prose that looks like a float's exponent to a substring search, and real small floats.
LOOKALIKES = st.sampled_from(["line-height", "pre-commit", "1e-7", "x0.00001", "É-", "e-"])
TEXT = st.text(st.characters(exclude_categories=("Cs",))) | LOOKALIKES
FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e-7, 1e-5, 2.5e-5, 0.0001, 5e-324, 1e16, 1e22, -0.0, 1e-10, 123.0001]
)
SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | FLOATS | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def spec_chars(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_content_chars_equals_pythons_compact_json(value: object) -> None:
    assert content_chars(value) == spec_chars(value)


def test_prose_with_e_dash_and_floats_by_hand() -> None:
    # '{"a":"line-height"}' is 19 characters; orjson writes the same, no float in it
    assert content_chars({"a": "line-height"}) == 19
    # Python writes [1e-07] (7 characters) where orjson writes [1e-7] (6)
    assert content_chars([1e-7]) == 7
    # Python writes [1e-05] (7), orjson [0.00001] (9)
    assert content_chars([0.00001]) == 7
    # "é" is one code point (two UTF-8 bytes): '["é"]' is 5 characters
    assert content_chars(["é"]) == 5
