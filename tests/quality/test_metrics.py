"""The distances computed in DuckDB equal a numpy/scipy reference, on random samples with ties
and empty bins."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from featurestore.quality.metrics import PSI_EPSILON, binned_distances, ks_statistics

pytestmark = pytest.mark.integration

# Few distinct values, so samples have many ties; zeros make empty bins on either side.
counts = st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12)
samples = st.lists(
    st.one_of(
        st.integers(min_value=-5, max_value=5).map(float),
        st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
    ),
    min_size=0,
    max_size=60,
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _reference(a: list[int], b: list[int]) -> tuple[float, float, float] | None:
    if sum(a) == 0 or sum(b) == 0:
        return None
    p, q = np.asarray(a) / sum(a), np.asarray(b) / sum(b)
    pe, qe = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    psi = float(np.sum((qe - pe) * np.log(qe / pe)))
    return psi, float(jensenshannon(p, q, base=2)), float(np.max(np.abs(p - q)))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_psi_js_linf_equal_the_numpy_scipy_reference(
    con: duckdb.DuckDBPyConnection, data: st.DataObject
) -> None:
    reference = data.draw(counts)
    compared = data.draw(
        st.lists(st.integers(0, 40), min_size=len(reference), max_size=len(reference))
    )

    got = binned_distances(con, {"f": (reference, compared)})["f"]

    expected = _reference(reference, compared)
    if expected is None:
        assert (got.psi, got.js, got.linf) == (None, None, None)
        return
    assert got.psi == pytest.approx(expected[0], rel=1e-9, abs=1e-12)
    assert got.js == pytest.approx(expected[1], rel=1e-7, abs=1e-7)
    assert got.linf == pytest.approx(expected[2], rel=1e-12, abs=1e-15)


@settings(max_examples=60, deadline=None)
@given(left=samples, right=samples, nulls=st.integers(0, 3))
def test_ks_equals_scipy_with_ties_and_nulls(
    con: duckdb.DuckDBPyConnection, left: list[float], right: list[float], nulls: int
) -> None:
    con.register("r", pa.table({"v": pa.array([*left, *[None] * nulls], pa.float64())}))
    con.register("s", pa.table({"v": pa.array(right, pa.float64())}))

    got = ks_statistics(con, "r", "s", {"f": ("v", "v")})["f"]

    if not left or not right:
        assert got is None
    else:
        expected = float(ks_2samp(left, right).statistic)
        assert got is not None and math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)


def test_several_features_are_measured_independently(con: duckdb.DuckDBPyConnection) -> None:
    con.register("r2", pa.table({"x": [1.0, 2.0, 3.0], "y": [0.0, 0.0, 1.0]}))
    con.register("s2", pa.table({"x": [1.0, 2.0, 3.0], "y": [5.0, 6.0, 7.0]}))

    got = ks_statistics(con, "r2", "s2", {"x": ("x", "x"), "y": ("y", "y")})
    distances = binned_distances(con, {"same": ([3, 1], [3, 1]), "apart": ([4, 0], [0, 4])})

    assert got == {"x": 0.0, "y": 1.0}
    assert distances["same"].psi == 0.0 and distances["same"].js == 0.0
    assert distances["apart"].js == pytest.approx(1.0) and distances["apart"].linf == 1.0
