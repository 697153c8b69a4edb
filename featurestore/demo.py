"""`featurestore demo`: the whole path on real data with embedded services, end to end."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from featurestore.apply import apply_repo
from featurestore.ingest import ingest_flights
from featurestore.offline.retrieval import historical_features
from featurestore.progress import Reporter, SilentReporter
from featurestore.repo import open_store
from featurestore.services import Services
from featurestore.settings import Settings
from featurestore.sql import quote_literal

logger = logging.getLogger(__name__)

FEATURE_SERVICE = "delay_model_v1"
LABEL = "arrived_delayed_15"
# Feast materializes rows whose event time falls in [start, end]; the data covers 2013.
MATERIALIZE_START = datetime(2012, 12, 31, tzinfo=UTC)


@dataclass
class DemoSummary:
    """What the demo did, for the CLI to print and tests to check."""

    data_dir: Path
    registry_path: Path
    training_set_path: Path
    training_rows: int
    label_rate: float
    features: list[str]
    non_null_share: dict[str, float]
    hidden_by_knowledge_time: dict[str, int]
    online_entity: dict[str, Any]
    online_features: dict[str, Any]
    started_services: list[str] = field(default_factory=list)
    seconds: float = 0.0


def flights_spine_sql(flights_path: Path) -> str:
    """The entity spine of the delay model: every flight with a known arrival, at its departure."""
    return f"""
        SELECT flight_id, origin, carrier, tailnum, origin || '-' || dest AS route,
               scheduled_departure AS event_timestamp, {LABEL}
        FROM read_parquet({quote_literal(str(flights_path))})
        WHERE {LABEL} IS NOT NULL
        ORDER BY scheduled_departure, flight_id
    """


def run_demo(settings: Settings, reporter: Reporter | None = None) -> DemoSummary:
    """Ingest → apply → training frame → materialize → one online read; stops what it started."""
    reporter = reporter or SilentReporter()
    began = time.perf_counter()
    with Services.from_settings(settings, need_redis=True, need_kafka=False) as services:
        ingested = ingest_flights(settings.data_dir, reporter=reporter)
        reporter.start("apply definitions")
        applied = apply_repo(settings, services.redis_url)
        reporter.finish("apply definitions")
        store = open_store(settings, services.redis_url)
        service = store.get_feature_service(FEATURE_SERVICE)

        reporter.start("point-in-time training frame")
        spine = f"({flights_spine_sql(ingested.paths['flights'])})"
        result = historical_features(store, spine, service)
        training_path = settings.data_dir / "training" / f"{FEATURE_SERVICE}.parquet"
        training_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(result.table, training_path, coerce_timestamps="us")
        reporter.finish("point-in-time training frame")

        reporter.start("materialize to Redis")
        with contextlib.redirect_stdout(io.StringIO()):  # Feast echoes its progress to stdout
            store.materialize(start_date=MATERIALIZE_START, end_date=datetime.now(UTC))
        reporter.finish("materialize to Redis")

        entity = _last_flight_entity(ingested.paths["flights"])
        online = store.get_online_features(features=service, entity_rows=[entity]).to_dict()

    projections = service.feature_view_projections
    feature_names = [field.name for projection in projections for field in projection.features]
    return DemoSummary(
        data_dir=settings.data_dir.resolve(),
        registry_path=applied.registry_path,
        training_set_path=training_path.resolve(),
        training_rows=result.table.num_rows,
        label_rate=_mean(result.table, LABEL),
        features=feature_names,
        non_null_share={
            name: 1 - result.table.column(name).null_count / max(result.table.num_rows, 1)
            for name in feature_names
        },
        hidden_by_knowledge_time=result.hidden_by_knowledge_time,
        online_entity=entity,
        online_features={k: v[0] for k, v in online.items() if k not in entity},
        started_services=services.started_names,
        seconds=time.perf_counter() - began,
    )


def _mean(table: Any, column: str) -> float:
    values = table.column(column).to_pylist()
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else 0.0


def _last_flight_entity(flights_path: Path) -> dict[str, Any]:
    """The entity keys of the last scheduled flight from JFK, to read online."""
    row = duckdb.execute(
        f"""
        SELECT origin, carrier, tailnum, origin || '-' || dest AS route
        FROM read_parquet({quote_literal(str(flights_path))})
        WHERE origin = 'JFK' AND tailnum IS NOT NULL
        ORDER BY scheduled_departure DESC, flight_id DESC LIMIT 1
        """
    ).fetchone()
    assert row is not None, "flights.parquet has no JFK flight"
    return dict(zip(("origin", "carrier", "tailnum", "route"), row, strict=True))
