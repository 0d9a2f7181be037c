"""Can token counts explain a segment's duration? The timing fit of amendments §1, with numpy.

Per fit group (`provider::model::kind` of `timing_segments`), on the p99-trimmed segments in
file order (round_pk, then segment order):

- groups with fewer than `MIN_ROWS` rows are skipped (`GroupFit.skipped`);
- features, tokens in thousands (p = prefix, a = append, o = the segment's tokens):
  `1, p, a, o, p², a², o², pa, po, ao` (`FEATURES`);
- test set = the first `max(1, round(0.2·n))` indices of `default_rng(17).permutation(n)` (a
  fresh generator per group), the rest trains;
- three least-squares fits (`lstsq`: normal equations, refined): `raw` (duration;
  predictions floored at 1e-9), `log` (log duration; prediction = exp), `weighted`
  (duration, rows weighted by `1/(d + 1000 ms)²`, i.e. rows and target scaled by
  `1/(d + 1000)`; floored like raw);
- test metrics (`METRICS`): RMSE, MAE, APE = |e|/d (mean, median, p90), smooth error
  `|e|/(d + 1000)` (mean), mean |log(pred/d)|, pred/d p10/p50/p90, and R² in the fit's own
  target space (raw: d; log: log d; weighted: d/(d + 1000) vs pred/(d + 1000)).

Rows are fetched once as numpy arrays (sorted by group) and split at group boundaries: the only
Python loop is over groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from tracelab.metrics.timing_segments import prepare_segments

FEATURES = ("1", "p", "a", "o", "p2", "a2", "o2", "pa", "po", "ao")
FITS = ("raw", "log", "weighted")
MIN_ROWS = 100
TEST_SHARE = 0.2
SEED = 17
PRED_FLOOR = 1e-9
SMOOTH_MS = 1000.0
TOKEN_UNIT = 1000.0
METRICS = (
    "rmse_ms",
    "mae_ms",
    "mape_mean",
    "mape_median",
    "mape_p90",
    "smooth_mean",
    "log_ratio_mean",
    "ratio_p10",
    "ratio_p50",
    "ratio_p90",
    "r2",
)


@dataclass
class GroupFit:
    """One fit group's outcome; `coefs`/`metrics` are keyed by fit name (empty when skipped)."""

    group: str
    rows: int
    test_pks: list[int] = field(default_factory=list)
    coefs: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return self.rows < MIN_ROWS

    @property
    def n_test(self) -> int:
        return len(self.test_pks)


def split_size(n: int) -> int:
    """Size of the test split of `n` rows."""
    return max(1, round(TEST_SHARE * n))


def design(p: Any, a: Any, o: Any) -> Any:
    """The feature matrix (rows × `FEATURES`) of token counts (tokens, not thousands)."""
    import numpy as np

    p, a, o = (np.asarray(x, dtype=float) / TOKEN_UNIT for x in (p, a, o))
    out = np.empty((len(p), len(FEATURES)))
    out[:, 0] = 1.0
    for j, col in enumerate((p, a, o, p * p, a * a, o * o, p * a, p * o, a * o), start=1):
        out[:, j] = col
    return out


def lstsq(a: Any, b: Any) -> Any:
    """Least squares `min ‖a·β − b‖` through the normal equations of column-scaled features,
    with two steps of iterative refinement: the same solution as `numpy.linalg.lstsq` up to
    rounding (minimum-norm when a column is constant zero), but only a 10×10 solve after one
    matrix product — LAPACK's threaded solver on a tall matrix stalls on a busy machine.
    """
    import numpy as np

    scale = np.sqrt(np.einsum("ij,ij->j", a, a))
    scale[scale == 0] = 1.0
    x = a / scale
    gram = x.T @ x
    beta = np.linalg.lstsq(gram, x.T @ b, rcond=None)[0]
    for _ in range(2):
        beta = beta + np.linalg.lstsq(gram, x.T @ (b - x @ beta), rcond=None)[0]
    return beta / scale


def _metrics(d: Any, pred: Any, y: Any, yhat: Any) -> dict[str, float]:
    import numpy as np

    err = pred - d
    ape = np.abs(err) / d
    ratio = pred / d
    resid = np.sum((y - yhat) ** 2)
    total = np.sum((y - y.mean()) ** 2)
    return {
        "rmse_ms": float(np.sqrt(np.mean(err**2))),
        "mae_ms": float(np.mean(np.abs(err))),
        "mape_mean": float(np.mean(ape)),
        "mape_median": float(np.median(ape)),
        "mape_p90": float(np.percentile(ape, 90)),
        "smooth_mean": float(np.mean(np.abs(err) / (d + SMOOTH_MS))),
        "log_ratio_mean": float(np.mean(np.abs(np.log(ratio)))),
        "ratio_p10": float(np.percentile(ratio, 10)),
        "ratio_p50": float(np.percentile(ratio, 50)),
        "ratio_p90": float(np.percentile(ratio, 90)),
        "r2": float(1 - resid / total) if total > 0 else float("nan"),
    }


def fit_group(group: str, pks: Any, d: Any, x: Any) -> GroupFit:
    """Split, fit and score one group's rows (in file order)."""
    import numpy as np

    n = len(d)
    out = GroupFit(group=group, rows=n)
    if n < MIN_ROWS:
        return out
    order = np.random.default_rng(SEED).permutation(n)
    test, train = order[: split_size(n)], order[split_size(n) :]
    out.test_pks = [int(v) for v in pks[test]]
    dt, xt = d[test], x[test]
    dtr, xtr = d[train], x[train]
    w_train, w_test = 1 / (dtr + SMOOTH_MS), 1 / (dt + SMOOTH_MS)
    targets = {
        "raw": (xtr, dtr),
        "log": (xtr, np.log(dtr)),
        "weighted": (xtr * w_train[:, None], dtr * w_train),
    }
    for name, (a, b) in targets.items():
        beta = lstsq(a, b)
        lin = xt @ beta
        if name == "log":
            pred = np.exp(lin)
            y, yhat = np.log(dt), lin
        else:
            pred = np.maximum(lin, PRED_FLOOR)
            scale = w_test if name == "weighted" else 1.0
            y, yhat = dt * scale, pred * scale
        out.coefs[name] = [float(v) for v in beta]
        out.metrics[name] = _metrics(dt, pred, y, yhat)
    return out


#: The trimmed segments with their fit group's number in group order (names fetched apart, so
#: the rows sort and travel as integers, not 600k strings).
FIT_ROWS_SQL = """
WITH g AS (
    SELECT fit_group, row_number() OVER (ORDER BY fit_group) - 1 AS gid
    FROM (SELECT DISTINCT fit_group FROM timing_segments WHERE in_trim)
)
SELECT g.gid, s.round_pk, s.duration_ms, s.prefix, s.append, s.segment_tokens
FROM timing_segments s JOIN g ON s.fit_group IS NOT DISTINCT FROM g.fit_group
WHERE s.in_trim ORDER BY g.gid, s.round_pk, s.seg_no
"""


def fit_all(con: duckdb.DuckDBPyConnection) -> list[GroupFit]:
    """Every fit group of the trimmed segments, in group order."""
    import numpy as np

    prepare_segments(con)
    names = [
        str(r[0])
        for r in con.execute(
            "SELECT DISTINCT fit_group FROM timing_segments WHERE in_trim ORDER BY fit_group"
        ).fetchall()
    ]
    cols = con.execute(FIT_ROWS_SQL).fetchnumpy()
    gid = np.asarray(cols["gid"])
    if len(gid) == 0:
        return []
    d = np.asarray(cols["duration_ms"], dtype=float)
    pks = np.asarray(cols["round_pk"])
    x = design(cols["prefix"], cols["append"], cols["segment_tokens"])
    starts = np.flatnonzero(np.r_[True, gid[1:] != gid[:-1]])
    ends = np.r_[starts[1:], len(gid)]
    return [
        fit_group(names[int(gid[s])], pks[s:e], d[s:e], x[s:e])
        for s, e in zip(starts, ends, strict=True)
    ]
