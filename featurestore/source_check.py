"""`apply`'s check of each feature view against its source file: columns, timestamps, types.

A view whose schema names a column its Parquet file lacks, or holds with an incompatible type,
would otherwise fail only at `training-set` or `materialize`. A missing file is a warning, not
an error: sources are often written after the definitions are registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureView, FileSource
from feast.repo_contents import RepoContents

from featurestore.errors import SourceDataError

_INTEGER = {"Int32", "Int64", "UnixTimestamp"}
_FLOAT = {"Float32", "Float64"}


@dataclass
class SourceCheck:
    """Problems (each names the view, the column and the file) and warnings about missing files."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def raise_if_problems(self) -> None:
        if self.problems:
            more = (
                f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
            )
            raise SourceDataError(self.problems[0] + more)


def check_sources(contents: RepoContents, repo_path: Path) -> SourceCheck:
    """Check every view with a local Parquet batch source against that file's schema."""
    check = SourceCheck()
    views: Iterable[FeatureView] = [*contents.feature_views, *contents.stream_feature_views]
    for view in views:
        source = view.batch_source
        if not isinstance(source, FileSource) or "://" in source.path:
            continue
        path = Path(source.path)
        if not path.is_absolute():
            path = repo_path / path
        if path.is_dir() or not path.exists():
            if not path.exists():
                check.warnings.append(
                    f"Feature view `{view.name}`: its source file `{path}` does not exist yet; "
                    "write it before `training-set` or `materialize`."
                )
            continue
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as exc:
            check.problems.append(
                f"Feature view `{view.name}`: cannot read its source file `{path}` as Parquet "
                f"({exc}); write it with pyarrow or DuckDB."
            )
            continue
        problems = _view_problems(view, source, schema, path)
        if problems and getattr(view, "aggregations", None):
            # Stream views of one source share its batch file; a view added later is filled by
            # the consumer's log (`<data dir>/stream/<view>/`), not by that file.
            check.warnings.extend(
                f"{problem} The stream consumer writes this view's rows to its own log."
                for problem in problems
            )
            continue
        check.problems.extend(problems)
    return check


def _view_problems(
    view: FeatureView, source: FileSource, schema: pa.Schema, path: Path
) -> list[str]:
    problems: list[str] = []
    mapping = {target: raw for raw, target in (source.field_mapping or {}).items()}
    columns = {name: schema.field(name).type for name in schema.names}

    def column_type(name: str) -> pa.DataType | None:
        return columns.get(mapping.get(name, name))

    for what, name in (
        ("timestamp field", source.timestamp_field),
        ("created timestamp column", source.created_timestamp_column),
    ):
        if not name:
            continue
        found = column_type(name)
        if found is None:
            problems.append(_missing(view, what, name, path, columns))
        elif not pa.types.is_timestamp(found):
            problems.append(
                f"Feature view `{view.name}`: {what} `{name}` in `{path}` has type `{found}`; it "
                "must be a timestamp (write µs UTC timestamps)."
            )
    for feature in view.features:
        found = column_type(feature.name)
        if found is None:
            problems.append(_missing(view, "feature", feature.name, path, columns))
        elif not _compatible(str(feature.dtype), found):
            problems.append(
                f"Feature view `{view.name}`: feature `{feature.name}` is declared "
                f"`{feature.dtype}` but `{path}` holds `{found}`; change the Field's dtype or "
                "the file."
            )
    for join_key in view.join_keys:
        if column_type(join_key) is None:
            problems.append(_missing(view, "join key", join_key, path, columns))
    return problems


def _missing(
    view: FeatureView, what: str, name: str, path: Path, columns: dict[str, pa.DataType]
) -> str:
    return (
        f"Feature view `{view.name}`: {what} `{name}` is not a column of its source file "
        f"`{path}`; its columns are {', '.join(f'`{c}`' for c in columns)}."
    )


def _compatible(dtype: str, arrow: pa.DataType) -> bool:
    """Whether Feast type `dtype` can hold the Parquet column's values without loss of meaning."""
    if pa.types.is_null(arrow):
        return True
    if dtype in _INTEGER:
        return pa.types.is_integer(arrow) or (dtype == "UnixTimestamp" and _is_time(arrow))
    if dtype in _FLOAT:
        return pa.types.is_integer(arrow) or pa.types.is_floating(arrow)
    if dtype == "String":
        return pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
    if dtype == "Bool":
        return pa.types.is_boolean(arrow)
    if dtype == "Bytes":
        return pa.types.is_binary(arrow) or pa.types.is_large_binary(arrow)
    if dtype.startswith("Array(") or dtype.startswith("Set("):
        return pa.types.is_list(arrow) or pa.types.is_large_list(arrow)
    return True  # a type this check does not know: Feast's own checks decide


def _is_time(arrow: pa.DataType) -> bool:
    return pa.types.is_timestamp(arrow) or pa.types.is_date(arrow)
