"""Build a training set: purpose check, deduplicated spine, point-in-time join, time splits,
a leakage check, Parquet files and a manifest that rebuilds them byte for byte."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast import FeatureStore, FeatureView

from featurestore.errors import FeatureStoreError, RetrievalError
from featurestore.metadata import parse_semantics
from featurestore.offline.arrow_io import utc_microseconds, write_parquet
from featurestore.offline.engine import connect
from featurestore.offline.engines import open_engine
from featurestore.offline.knowledge import knowledge_time_report
from featurestore.offline.pit import PointInTimeResult
from featurestore.offline.source import SourceLocation
from featurestore.progress import Reporter, SilentReporter
from featurestore.quality.gate import require_valid
from featurestore.quality.stats import FeatureColumn, reference_statistics
from featurestore.registry import Registry
from featurestore.sql import quote_ident, quote_literal
from featurestore.training import manifest as mf
from featurestore.training.splits import SPLIT_NAMES, SplitSpec, assign_splits

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SILENT = SilentReporter()
_SPINE_VIEW = "__featurestore_training_spine"


class LeakageError(FeatureStoreError):
    """A joined feature value was created or stamped after its entity row's time."""


@dataclass(frozen=True)
class TrainingSetRequest:
    """What to build: features, an entity spine with a label, how to split, and why."""

    name: str
    features: str | Sequence[str]
    """A feature service name, or `view:feature` refs."""
    spine: str | Path | pa.Table
    """A Parquet file, a DuckDB SQL query, or an Arrow table."""
    label: str
    event_timestamp_column: str = "event_timestamp"
    split: SplitSpec = field(default_factory=lambda: SplitSpec(fractions=(0.7, 0.15, 0.15)))
    group_key: str | None = None
    purpose: str = "training"
    as_known_at: bool = True
    allow_invalid: bool = False
    """Use views whose sources fail validation (their failures become warnings)."""


@dataclass(frozen=True)
class TrainingSetResult:
    """Where the set was written and what went into it."""

    directory: Path
    manifest_path: Path
    paths: dict[str, Path]
    rows: dict[str, int]
    features: list[str]
    duplicates_dropped: int
    purged_rows: int
    hidden_by_knowledge_time: dict[str, int]
    warnings: tuple[str, ...]
    fractions: dict[str, float] = field(default_factory=dict)
    """Achieved share of the deduplicated spine's rows per split."""


def build_training_set(
    store: FeatureStore,
    request: TrainingSetRequest,
    output_root: Path,
    *,
    reporter: Reporter = _SILENT,
    data_dir: Path | None = None,
) -> TrainingSetResult:
    """Build, check and write the splits and manifest under `output_root / request.name`.

    `data_dir` goes into the manifest's rebuild command (default: `output_root`'s parent when
    `output_root` is the data dir's `training/` folder, as the CLI uses it)."""
    if not _NAME.match(request.name):
        raise RetrievalError(
            f"Training set name `{request.name}` must be letters, digits, `_`, `-` or `.`."
        )
    task = f"training set {request.name}"
    reporter.start(task, total=5)
    registry = Registry(store)
    resolved = registry.resolve(request.features)
    refs = list(resolved.refs)
    policy = registry.policy()
    policy.check(request.purpose, refs, resolved.service_name).raise_if_denied()
    sources = [view.view_source() for view in resolved.views]
    definitions = {view.name: view.feast_view for view in resolved.views}
    invalid = require_valid(
        store, [source.name for source in sources], allow_invalid=request.allow_invalid
    )
    reporter.advance(task)

    # The spine is read and deduplicated in memory by DuckDB whatever the engine (a spine
    # query is DuckDB SQL); the features are joined by the engine the repo selects.
    with connect(store.config.offline_store) as con:
        spine, spine_rows = _deduplicated_spine(con, request)
    reporter.advance(task)
    engine = open_engine(store)
    try:
        joined = engine.historical_features(
            spine,
            sources,
            event_timestamp_column=request.event_timestamp_column,
            as_known_at=request.as_known_at,
            with_feature_times=True,
        )
    finally:
        engine.close()
    reporter.advance(task)
    _check_no_leakage(joined, spine.column(request.event_timestamp_column), request.as_known_at)

    groups = spine.column(request.group_key).to_pylist() if request.group_key else None
    assignment = assign_splits(spine.column(request.event_timestamp_column), request.split, groups)
    directory = output_root / request.name
    paths, rows, ranges = _write_splits(directory, joined.table, assignment.split_of_row, request)
    reporter.advance(task)

    report = knowledge_time_report(joined, sources)
    feature_names = [name for name in joined.table.column_names if name not in spine.column_names]
    statistics = _reference_statistics(definitions, refs, feature_names, paths)
    manifest = {
        "format": mf.MANIFEST_FORMAT,
        "name": request.name,
        "purpose": request.purpose,
        "feature_service": request.features if isinstance(request.features, str) else None,
        "features": refs,
        "feature_columns": feature_names,
        "label": request.label,
        "event_timestamp_column": request.event_timestamp_column,
        "views": {
            source.name: {
                "definition_sha256": mf.view_definition_sha256(definitions[source.name]),
                "source": source.table,
                "source_files": _fingerprints(source.location),
                "ttl_seconds": source.ttl.total_seconds() if source.ttl else None,
                "created_timestamp_field": source.created_timestamp_field,
            }
            for source in sources
        },
        "registry_version": mf.registry_version(store),
        "spine": {
            "input": _describe_spine(request.spine),
            "rows_in": spine_rows,
            "duplicates_dropped": spine_rows - spine.num_rows,
            "sha256": mf.table_sha256(spine),
        },
        "as_known_at": request.as_known_at,
        "hidden_by_knowledge_time": report.hidden,
        "split": {
            "cuts": [cut.isoformat() for cut in assignment.cuts],
            "fractions": list(request.split.fractions) if request.split.fractions else None,
            "group_key": request.group_key,
            "purged_rows": assignment.purged_rows,
            "achieved_fractions": {k: round(v, 6) for k, v in assignment.fractions.items()},
            "rows": rows,
            "time_ranges": ranges,
            "files": {
                name: {"file": path.name, "sha256": mf.file_sha256(path)}
                for name, path in paths.items()
            },
        },
        "statistics": statistics,
        "leakage_check": "passed: no feature event or created time after its entity time",
        "rights": mf.rights_section(policy, (source.name for source in sources)),
        "engine": {"name": engine.name, "versions": mf.package_versions(engine.packages)},
        "rebuild": _rebuild_command(
            request,
            Path(store.config.repo_path or "."),
            data_dir or (output_root.parent if output_root.name == "training" else None),
        ),
    }
    manifest_path = mf.write_manifest(directory, manifest)
    reporter.advance(task)
    reporter.finish(task)
    return TrainingSetResult(
        directory=directory,
        manifest_path=manifest_path,
        paths=paths,
        rows=rows,
        features=feature_names,
        duplicates_dropped=spine_rows - spine.num_rows,
        purged_rows=assignment.purged_rows,
        hidden_by_knowledge_time=report.hidden,
        warnings=(*invalid, *report.warnings, *assignment.warnings),
        fractions=assignment.fractions,
    )


def _reference_statistics(
    definitions: Mapping[str, FeatureView],
    refs: Sequence[str],
    columns: Sequence[str],
    paths: dict[str, Path],
) -> dict[str, Any]:
    """Per-split statistics of each feature, binned on the train split (`quality.stats`)."""
    features = []
    for ref in refs:
        view_name, _, name = ref.partition(":")
        column = next((c for c in (f"{view_name}__{name}", name) if c in columns), None)
        if column is None:
            continue
        view = definitions.get(view_name)
        if view is None:
            continue
        field_of = {field.name: field for field in view.features}
        if name not in field_of:
            continue
        field_ = field_of[name]
        features.append(FeatureColumn(ref, column, str(field_.dtype), parse_semantics(field_.tags)))
    with duckdb.connect() as con:
        return reference_statistics(con, paths, features)


def _deduplicated_spine(
    con: duckdb.DuckDBPyConnection, request: TrainingSetRequest
) -> tuple[pa.Table, int]:
    """The spine without exact duplicate rows, sorted by time then every column (stable)."""
    relation = _spine_relation(con, request.spine)
    columns = list(relation.columns)
    for required in (request.event_timestamp_column, request.label, request.group_key):
        if required is not None and required not in columns:
            raise RetrievalError(
                f"The entity spine has no `{required}` column; its columns are "
                f"{', '.join(f'`{c}`' for c in columns)}."
            )
    rows_in = _count(con)
    time = quote_ident(request.event_timestamp_column)
    others = ", ".join(quote_ident(c) for c in columns if c != request.event_timestamp_column)
    order = f"{time}, {others}" if others else time
    spine = con.sql(f"SELECT DISTINCT * FROM {_SPINE_VIEW} ORDER BY {order}").to_arrow_table()
    return utc_microseconds(spine), rows_in


def _spine_relation(
    con: duckdb.DuckDBPyConnection, spine: str | Path | pa.Table
) -> duckdb.DuckDBPyRelation:
    try:
        if isinstance(spine, pa.Table):
            relation = con.from_arrow(spine)
        elif isinstance(spine, Path) or str(spine).strip().lower().endswith(".parquet"):
            relation = con.sql(f"SELECT * FROM read_parquet({quote_literal(str(spine))})")
        else:
            relation = con.sql(str(spine))
    except duckdb.Error as exc:
        raise RetrievalError(
            f"Cannot read the entity spine `{spine}`: {exc}. Pass a Parquet file or a DuckDB query."
        ) from exc
    con.register(_SPINE_VIEW, relation)
    return relation


def _count(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute(f"SELECT count(*) FROM {_SPINE_VIEW}").fetchall()
    return int(rows[0][0])


def _check_no_leakage(joined: PointInTimeResult, times: pa.ChunkedArray, as_known_at: bool) -> None:
    """Refuse to write a set in which any feature row is later than its entity row."""
    entity_time = pc.cast(times, pa.timestamp("us", tz="UTC"))
    for view, (event, created) in joined.feature_times.items():
        checks = [("event", event)] + ([("created", created)] if as_known_at else [])
        for what, values in checks:
            later = pc.greater(pc.cast(values, pa.timestamp("us", tz="UTC")), entity_time)
            count = pc.sum(pc.fill_null(later, False)).as_py() or 0
            if count:
                raise LeakageError(
                    f"{count} row(s) of view `{view}` got a feature whose {what} time is after "
                    "the entity time; the set was not written. Report this as a bug."
                )


def _write_splits(
    directory: Path, table: pa.Table, split_of_row: np.ndarray, request: TrainingSetRequest
) -> tuple[dict[str, Path], dict[str, int], dict[str, list[str | None]]]:
    paths: dict[str, Path] = {}
    rows: dict[str, int] = {}
    ranges: dict[str, list[str | None]] = {}
    for index, name in enumerate(SPLIT_NAMES):
        part = table.filter(pa.array(split_of_row == index))
        paths[name] = directory / f"{name}.parquet"
        rows[name] = write_parquet(part, paths[name])
        times = part.column(request.event_timestamp_column)
        low, high = pc.min(times).as_py(), pc.max(times).as_py()
        ranges[name] = [low.isoformat() if low else None, high.isoformat() if high else None]
    return paths, rows, ranges


def _fingerprints(location: SourceLocation) -> list[dict[str, Any]]:
    """SHA-256 of each local file the source reads."""
    return [
        {"path": str(path), "bytes": path.stat().st_size, "sha256": mf.file_sha256(path)}
        for path in location.files()
    ]


def _describe_spine(spine: str | Path | pa.Table) -> dict[str, Any]:
    if isinstance(spine, pa.Table):
        return {"kind": "arrow table", "columns": spine.column_names}
    if isinstance(spine, Path) or str(spine).strip().lower().endswith(".parquet"):
        path = Path(spine)
        return {"kind": "parquet", "path": str(path), "sha256": mf.file_sha256(path)}
    return {"kind": "sql", "query": " ".join(str(spine).split())}


def _rebuild_command(
    request: TrainingSetRequest, repo_path: Path, data_dir: Path | None
) -> str | None:
    """The CLI command that rebuilds this set from any working directory (absolute repo, data
    dir and spine file), or None for an in-memory spine."""
    if isinstance(request.spine, pa.Table):
        return None
    parts = ["featurestore", "training-set", request.name]
    features = [request.features] if isinstance(request.features, str) else list(request.features)
    for feature in features:
        parts += ["--features", feature]
    spine = request.spine
    if isinstance(spine, Path) or str(spine).strip().lower().endswith(".parquet"):
        spine = str(Path(str(spine).strip()).resolve())
    parts += ["--spine", " ".join(str(spine).split()), "--label", request.label]
    parts += ["--repo", str(repo_path.resolve())]
    if data_dir is not None:
        parts += ["--data-dir", str(data_dir.resolve())]
    parts += ["--event-time", request.event_timestamp_column, "--purpose", request.purpose]
    if request.split.fractions:
        parts += ["--split", ",".join(f"{f:g}" for f in request.split.fractions)]
    elif request.split.cuts:
        parts += ["--split", ",".join(cut.isoformat() for cut in request.split.cuts)]
    if request.group_key:
        parts += ["--group-key", request.group_key]
    if not request.as_known_at:
        parts.append("--no-as-known-at")
    return shlex.join(parts)
