"""Distribution distances computed in DuckDB: PSI, Jensen–Shannon distance and L∞ over binned
counts, and the two-sample Kolmogorov–Smirnov statistic over raw values.

Definitions (p = reference shares, q = compared shares, over the same bins):
- PSI = Σ (q'ᵢ − p'ᵢ) · ln(q'ᵢ / p'ᵢ), with every share floored at `PSI_EPSILON` so that an
  empty bin on one side gives a large but finite term;
- JS distance = √JSD with JSD = ½ Σ pᵢ log₂(pᵢ/mᵢ) + ½ Σ qᵢ log₂(qᵢ/mᵢ), m = (p + q)/2,
  empty terms being 0 (scipy's `jensenshannon(p, q, base=2)`); it lies in [0, 1];
- L∞ = maxᵢ |pᵢ − qᵢ|;
- KS = sup |F_ref(x) − F_cmp(x)| over the empirical CDFs, ties counted together (scipy's
  `ks_2samp(...).statistic`).
A side without any count (or value) gives None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

PSI_EPSILON = 1e-4


@dataclass(frozen=True)
class BinnedDistances:
    """PSI, JS distance and L∞ between two binned distributions (None when a side is empty)."""

    psi: float | None
    js: float | None
    linf: float | None


def binned_distances(
    con: duckdb.DuckDBPyConnection, counts: Mapping[str, tuple[Sequence[int], Sequence[int]]]
) -> dict[str, BinnedDistances]:
    """Per key, the distances between (reference counts, compared counts) of equal length."""
    keys, bins, reference, compared = [], [], [], []
    for key, (left, right) in counts.items():
        if len(left) != len(right):
            raise ValueError(f"`{key}` has {len(left)} reference bins and {len(right)} compared")
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            keys.append(key)
            bins.append(index)
            reference.append(int(a))
            compared.append(int(b))
    table = pa.table(
        {
            "key": pa.array(keys, pa.string()),
            "bin": pa.array(bins, pa.int64()),
            "a": pa.array(reference, pa.int64()),
            "b": pa.array(compared, pa.int64()),
        }
    )
    rows = []
    if keys:
        con.register("__featurestore_binned_counts", table)
        try:
            rows = con.execute(_BINNED_SQL, {"eps": PSI_EPSILON}).fetchall()
        finally:
            con.unregister("__featurestore_binned_counts")
    found = {key: BinnedDistances(psi, js, linf) for key, psi, js, linf in rows}
    return {key: found.get(key, BinnedDistances(None, None, None)) for key in counts}


_BINNED_SQL = """
WITH totals AS (
    SELECT key, bin, a, b,
        sum(a) OVER (PARTITION BY key) AS ta, sum(b) OVER (PARTITION BY key) AS tb
    FROM __featurestore_binned_counts
), shares AS (
    SELECT key, a / ta AS p, b / tb AS q FROM totals WHERE ta > 0 AND tb > 0
)
SELECT
    key,
    sum((greatest(q, $eps) - greatest(p, $eps)) * ln(greatest(q, $eps) / greatest(p, $eps))),
    sqrt(greatest(0.5 * sum(CASE WHEN p > 0 THEN p * log2(2 * p / (p + q)) ELSE 0 END)
        + 0.5 * sum(CASE WHEN q > 0 THEN q * log2(2 * q / (p + q)) ELSE 0 END), 0)),
    max(abs(p - q))
FROM shares
GROUP BY key
"""


def ks_statistics(
    con: duckdb.DuckDBPyConnection,
    reference_sql: str,
    compared_sql: str,
    values: Mapping[str, tuple[str, str]],
) -> dict[str, float | None]:
    """Per key, the KS statistic between the non-null values of expression `values[key][0]`
    over table `reference_sql` and of `values[key][1]` over `compared_sql`."""
    if not values:
        return {}
    pairs = list(values.values())
    left = ", ".join(f"histogram(({pair[0]})::DOUBLE) AS c{i}" for i, pair in enumerate(pairs))
    right = ", ".join(f"histogram(({pair[1]})::DOUBLE) AS c{i}" for i, pair in enumerate(pairs))
    # One scan per side: `histogram` counts each distinct value (ties become one entry, nulls
    # are skipped); only the distinct values are then unnested, sorted and summed up.
    long = " UNION ALL ".join(
        f"SELECT {i} AS f, unnest(map_keys({side}.c{i})) AS v, "
        f"unnest(map_values({side}.c{i})) AS n, {flag} AS side FROM {side}"
        for i in range(len(pairs))
        for side, flag in (("ra", 0), ("sb", 1))
    )
    sql = f"""
        WITH ra AS (SELECT {left} FROM {reference_sql}),
        sb AS (SELECT {right} FROM {compared_sql}),
        counts AS (
            SELECT f, v, sum(n) FILTER (WHERE side = 0) AS a, sum(n) FILTER (WHERE side = 1) AS b
            FROM ({long}) GROUP BY f, v
        ),
        cdf AS (
            SELECT f,
                sum(coalesce(a, 0)) OVER w / sum(a) OVER (PARTITION BY f) AS fa,
                sum(coalesce(b, 0)) OVER w / sum(b) OVER (PARTITION BY f) AS fb,
                sum(a) OVER (PARTITION BY f) AS na, sum(b) OVER (PARTITION BY f) AS nb
            FROM counts
            WINDOW w AS (PARTITION BY f ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
        SELECT f, max(abs(fa - fb)) FROM cdf WHERE na > 0 AND nb > 0 GROUP BY f
    """
    found = dict(con.execute(sql).fetchall())
    return {key: found.get(index) for index, key in enumerate(values)}
