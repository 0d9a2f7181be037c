"""Workload profiles: the inverse-CDF samplers at hand-checked points, strict validation with
errors that name the field, and the packaged study profile."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tracelab.synth.profile import (
    FORMAT,
    Dist,
    ProfileError,
    dist,
    dumps_profile,
    load_profile,
    read_profile_json,
    validate,
    weights,
)

# --- samplers ---------------------------------------------------------------------------------


def test_dist_returns_each_tables_value_at_its_quantile() -> None:
    d = Dist((0.0, 0.25, 0.5, 0.9, 1.0), (3.0, 7.0, 10.0, 100.0, 1000.0), "log")
    assert [d.sample(u) for u in (0.0, 0.25, 0.5, 0.9, 1.0)] == [3, 7, 10, 100, 1000]


def test_log_scale_interpolates_geometrically_and_linear_arithmetically() -> None:
    log = Dist((0.0, 0.5, 1.0), (10.0, 100.0, 1000.0), "log")
    # halfway between q=0.5 (100) and q=1 (1000) on a log scale: sqrt(100 × 1000)
    assert log.sample(0.75) == pytest.approx(math.sqrt(100 * 1000))
    assert log.sample(0.25) == pytest.approx(math.sqrt(10 * 100))
    lin = Dist((0.0, 0.5, 1.0), (10.0, 100.0, 1000.0), "linear")
    assert lin.sample(0.75) == pytest.approx(550.0)
    assert lin.sample(0.25) == pytest.approx(55.0)


def test_zero_endpoints_and_flat_segments() -> None:
    d = Dist((0.0, 0.3, 0.5, 1.0), (0.0, 1.0, 1.0, 9.0), "log")
    # a segment touching 0 is interpolated linearly even on the log scale
    assert d.sample(0.15) == pytest.approx(0.5)
    # a flat segment is a point mass: every draw in it is exactly its value
    assert {d.sample(u) for u in (0.3, 0.35, 0.4, 0.49)} == {1.0}
    # counts take the integer part: P(0) = 0.3, P(1) = 0.2 + the start of the last segment
    assert [int(d.sample(u)) for u in (0.0, 0.29, 0.3, 0.5, 0.99)] == [0, 0, 1, 1, 8]


def test_weights_normalize_and_sample_by_cumulative_share() -> None:
    w = weights({"1": 6, "3": 2, "2": 2}, "w")
    assert w.values == (1, 2, 3)
    assert w.cumulative == pytest.approx((0.6, 0.8, 1.0))
    assert [w.sample(u) for u in (0.0, 0.59, 0.6, 0.79, 0.8, 0.999)] == [1, 1, 2, 2, 3, 3]
    assert w.mean() == pytest.approx(0.6 * 1 + 0.2 * 2 + 0.2 * 3)


# --- validation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study() -> dict[str, Any]:
    return read_profile_json("study")


def _broken(study: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of the study document with the field at dotted `path` set (or deleted)."""
    data = copy.deepcopy(study)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("format", "tracelab-synth-profile/0", "profile.format: expected"),
        ("providers.gemini", {}, "profile.providers: unknown provider 'gemini'"),
        ("providers.claude.tokens", _DELETE, "profile.providers.claude: missing 'tokens'"),
        ("providers.claude.colour", "red", "profile.providers.claude: unknown field 'colour'"),
        (
            "providers.codex.human_wait_ms",
            {"q": [0.1, 0.5, 1], "v": [1, 2, 3]},
            "providers.codex.human_wait_ms.q: must start at 0 and end at 1",
        ),
        (
            "providers.codex.human_wait_ms",
            {"q": [0, 0.5, 0.5, 1], "v": [1, 2, 3, 4]},
            "human_wait_ms.q: must be strictly increasing",
        ),
        (
            "providers.codex.human_wait_ms",
            {"q": [0, 0.5, 1], "v": [1, 5, 4]},
            "human_wait_ms.v: must be non-decreasing",
        ),
        (
            "providers.codex.human_wait_ms",
            {"q": [0, 1], "v": [1, 2], "scale": "cubic"},
            "human_wait_ms.scale: must be 'log' or 'linear'",
        ),
        (
            "providers.codex.human_wait_ms",
            {"q": [0, 0.5, 1], "v": [1, 2]},
            "human_wait_ms: q has 3 points but v has 2",
        ),
        ("providers.claude.tools.Bash.error_rate", 1.5, "tools.Bash: must be ≤ 1.0, got 1.5"),
        ("providers.claude.tools.Read.latency_ms", None, "tools.Read.latency_ms: only a subagent"),
        ("providers.claude.tools_per_step", {"one": 1}, "tools_per_step: key 'one' is not an"),
        ("providers.claude.models.claude-opus-4-7.share", "lots", "share: expected a number"),
        (
            "providers.claude.cache.miss_probability.user",
            [0.1, 0.2],
            "miss_probability.user: expected a list of 4 probabilities",
        ),
        ("providers.codex.features", {"teleport": 0.5}, "unknown feature 'teleport'"),
        ("targets.0.key", "all.nonsense.p50", "targets[0].key: unknown quantity"),
        ("targets.1.bound", "upper", "targets[1].bound: must be 'lower'"),
    ],
)
def test_bad_profiles_name_the_field(
    study: dict[str, Any], path: str, value: Any, message: str
) -> None:
    with pytest.raises(ProfileError) as exc:
        validate(_broken(study, path, value))
    assert message in str(exc.value)


def test_duplicate_target_and_bad_json_and_missing_file(
    study: dict[str, Any], tmp_path: Path
) -> None:
    data = copy.deepcopy(study)
    data["targets"].append(dict(data["targets"][0]))
    with pytest.raises(ProfileError, match="is listed twice"):
        validate(data)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match=r"bad\.json: not a JSON document"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="no such profile file"):
        load_profile(tmp_path / "missing.json")
    with pytest.raises(ProfileError, match="expected a non-empty object"):
        weights({}, "w")
    with pytest.raises(ProfileError, match="needs at least 2 points"):
        dist({"q": [0], "v": [1]}, "d")


# --- the packaged profile ---------------------------------------------------------------------


def test_study_profile_is_valid_and_cites_its_targets(study: dict[str, Any]) -> None:
    profile = load_profile("study")
    assert study["format"] == FORMAT and profile.name == "study"
    assert set(profile.providers) == {"claude", "codex"}
    assert len(profile.targets) >= 100
    for target in profile.targets:
        assert target.source.startswith(("Table", "§")), target
    shares = profile.provider_shares(("claude", "codex"))
    assert shares["claude"] == pytest.approx(2676 / 4265, abs=1e-3)
    with pytest.raises(ProfileError, match="no provider gemini"):
        profile.provider_shares(("gemini",))


def test_dumps_profile_round_trips(study: dict[str, Any], tmp_path: Path) -> None:
    text = dumps_profile(study)
    assert json.loads(text) == study
    assert '"q": [0, ' in text  # quantile tables stay on one line
    path = tmp_path / "p.json"
    path.write_text(text)
    assert load_profile(path).targets == load_profile("study").targets
