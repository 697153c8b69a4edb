"""Assemble a consumer from the settings and the registry, and run it until stopped."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import redis
from feast import FeatureStore, KafkaSource, StreamFeatureView

from featurestore.aggregations import WindowSpec
from featurestore.aggregations.flights import SPECS
from featurestore.errors import ConfigError, TerminalError
from featurestore.kafka import TOPIC_PARTITIONS, ensure_topics, make_consumer, make_producer
from featurestore.online.writer import OnlineWriter
from featurestore.repo import open_store
from featurestore.settings import Settings
from streaming.config import StreamOptions
from streaming.consumer import RunStats, StreamConsumer
from streaming.decode import EventDecoder, event_semantics, parse_schema
from streaming.metrics import StreamMetrics
from streaming.offline_log import OfflineLog

logger = logging.getLogger(__name__)


class StreamDefinitionError(TerminalError):
    """A stream feature view and its aggregation spec disagree, or the view has no spec."""


def offline_log(settings: Settings, spec: WindowSpec) -> OfflineLog:
    """The consumer's offline log of one view: `<data dir>/stream/<view>/`."""
    return OfflineLog(settings.data_dir / "stream" / spec.view, spec)


def stream_view(store: FeatureStore, name: str | None) -> tuple[StreamFeatureView, WindowSpec]:
    """The registered stream feature view to serve (default: the first one with a spec)."""
    views = {view.name: view for view in store.list_stream_feature_views()}
    if name is None:
        name = next((view for view in views if view in SPECS), None)
    if name is None or name not in views or name not in SPECS:
        served = sorted(set(views) & set(SPECS))
        raise StreamDefinitionError(
            f"Stream feature view `{name}` is not registered with an aggregation spec; choose "
            f"one of {served} or run `featurestore apply`."
        )
    view, spec = views[name], SPECS[name]
    _check_agreement(view, spec)
    return view, spec


def _check_agreement(view: StreamFeatureView, spec: WindowSpec) -> None:
    """The spec must make exactly the view's features for its entity, with the source's lateness."""
    problems = []
    # A registered view may list its entity column among its features.
    features = sorted(f.name for f in view.features if f.name not in view.join_keys)
    if features != sorted(spec.feature_names):
        problems.append(f"features {features} ≠ {sorted(spec.feature_names)}")
    if list(view.join_keys) != [spec.key]:
        problems.append(f"join keys {view.join_keys} ≠ [`{spec.key}`]")
    source = view.stream_source
    if not isinstance(source, KafkaSource):
        problems.append(f"its stream source is a {type(source).__name__}, not a KafkaSource")
    else:
        delay = source.kafka_options.watermark_delay_threshold or timedelta(0)
        if delay != spec.allowed_lateness:
            problems.append(f"watermark delay {delay} ≠ allowed lateness {spec.allowed_lateness}")
    if problems:
        raise StreamDefinitionError(
            f"Stream feature view `{view.name}` disagrees with its aggregation spec: "
            f"{'; '.join(problems)}. Change one so both say the same."
        )


def build_consumer(
    settings: Settings,
    redis_url: str,
    options: StreamOptions,
    *,
    view_name: str | None = None,
    metrics: StreamMetrics | None = None,
    **consumer_overrides: Any,
) -> StreamConsumer:
    """A ready consumer for one stream feature view; topics are created if missing."""
    store = open_store(settings, redis_url)
    view, spec = stream_view(store, view_name)
    source = view.stream_source
    assert isinstance(source, KafkaSource)
    topic = options.topic or source.kafka_options.topic
    options = options.model_copy(
        update={"topic": topic, "group_id": options.group_id or f"featurestore.{spec.view}"}
    )
    assert options.group_id is not None
    schema = getattr(source.kafka_options.message_format, "schema_json", None)
    if not schema:
        raise ConfigError("stream_source", source.name, "needs a JsonFormat with `schema_json`")
    decoder = EventDecoder(parse_schema(schema), event_semantics(source.tags), spec.timestamp_field)
    servers = options.bootstrap_servers
    ensure_topics(servers, {topic: TOPIC_PARTITIONS, f"{topic}.dlq": 1})
    client = redis.Redis.from_url(redis_url)
    return StreamConsumer(
        spec,
        view,
        topic,
        decoder,
        consumer=make_consumer(
            servers,
            options.group_id,
            max_poll_records=options.max_poll_records,
            **consumer_overrides,
        ),
        producer=make_producer(servers),
        writer=OnlineWriter(client, store.project),
        log=OfflineLog(options.offline_log_dir, spec)
        if options.offline_log_dir
        else offline_log(settings, spec),
        options=options,
        metrics=metrics,
    )


@contextlib.contextmanager
def _stop_on_signals(consumer: StreamConsumer) -> Iterator[None]:
    """SIGTERM and SIGINT ask the consumer to finish its batch, commit and return."""
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, lambda *_: consumer.stop())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_consumer(consumer: StreamConsumer, *, handle_signals: bool = True) -> RunStats:
    """Run until stopped (or caught up), then close the Kafka clients."""
    if consumer.options.metrics_port is not None:
        consumer.metrics.serve(consumer.options.metrics_port, consumer.options.metrics_host)
    try:
        with _stop_on_signals(consumer) if handle_signals else contextlib.nullcontext():
            return consumer.run()
    finally:
        consumer.close()


def stream_from_settings(
    settings: Settings,
    *,
    view_name: str | None = None,
    **options: Any,
) -> RunStats:
    """`featurestore stream`: serve one view from the configured Kafka into the configured Redis."""
    if not settings.kafka_bootstrap_servers:
        raise ConfigError(
            "kafka_bootstrap_servers",
            None,
            "the consumer reads a running Kafka: set FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS (only "
            "`featurestore demo` starts an embedded broker)",
        )
    if not settings.redis_url:
        raise ConfigError(
            "redis_url",
            None,
            "the consumer writes a running Redis: set FEATURESTORE_REDIS_URL ("
            "an embedded Redis would stop with the command)",
        )
    stream_options = StreamOptions(bootstrap_servers=settings.kafka_bootstrap_servers, **options)
    consumer = build_consumer(settings, settings.redis_url, stream_options, view_name=view_name)
    return run_consumer(consumer)
