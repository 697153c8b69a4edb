"""Assemble a consumer from the settings and the registry, and run it until stopped."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from feast import FeatureStore, KafkaSource, StreamFeatureView

from featurestore.aggregations import WindowSpec, message_key, parse_schema, window_spec
from featurestore.errors import ConfigError, TerminalError
from featurestore.kafka import TOPIC_PARTITIONS, ensure_topics, make_consumer, make_producer
from featurestore.online.connection import connect
from featurestore.online.writer import OnlineWriter
from featurestore.registry import Registry
from featurestore.repo import open_store
from featurestore.settings import Settings
from streaming.config import StreamOptions
from streaming.consumer import RunStats, StreamConsumer
from streaming.decode import EventDecoder, event_semantics
from streaming.metrics import StreamMetrics
from streaming.offline_log import OfflineLog
from streaming.repartition import RepartitionCheckpoints, internal_topic
from streaming.tasks import RepartitionTask, ViewTask

logger = logging.getLogger(__name__)


class StreamDefinitionError(TerminalError):
    """The stream feature views asked for are not registered, or cannot run in one consumer."""


def stream_dir(settings: Settings, options: StreamOptions | None = None) -> Path:
    """The folder of the offline logs, one per view: `<data dir>/stream/` unless overridden."""
    if options is not None and options.offline_log_dir is not None:
        return options.offline_log_dir
    return settings.data_dir / "stream"


def offline_log(settings: Settings, spec: WindowSpec) -> OfflineLog:
    """The consumer's offline log of one view: `<data dir>/stream/<view>/`."""
    return OfflineLog(stream_dir(settings) / spec.view, spec)


def stream_views(
    store: FeatureStore, names: Sequence[str] | None = None
) -> list[tuple[StreamFeatureView, WindowSpec]]:
    """The registered stream views to serve (default: every one) with their specs; an unknown
    name raises the registry's not-found error."""
    resolved = Registry(store).stream_views(list(dict.fromkeys(names)) if names else None)
    if not resolved:
        raise StreamDefinitionError(
            "No stream feature view is registered; declare one in the repo and run "
            "`featurestore apply`."
        )
    views = sorted(
        (view.feast_view for view in resolved if isinstance(view.feast_view, StreamFeatureView)),
        key=lambda view: view.name,
    )
    return [(view, window_spec(view)) for view in views]


def _source_topic(view: StreamFeatureView) -> str:
    source = view.stream_source
    assert isinstance(source, KafkaSource)  # window_spec checked it
    return str(source.kafka_options.topic)


def build_consumer(
    settings: Settings,
    redis_url: str,
    options: StreamOptions,
    *,
    views: Sequence[str] | None = None,
    metrics: StreamMetrics | None = None,
    **consumer_overrides: Any,
) -> StreamConsumer:
    """One consumer for the chosen stream views (default: all); topics are created if missing.

    Views on one topic share its poll loop; a view keyed by another field than the source's
    `message_key` reads its internal `<topic>.by.<join key>` topic, which this consumer fills.
    """
    store = open_store(settings, redis_url)
    selected = stream_views(store, views)
    topics = {_source_topic(view) for view, _ in selected}
    if options.topic is not None and len(topics) > 1:
        raise StreamDefinitionError(
            f"`--topic {options.topic}` can replace one source topic, but the views read "
            f"{sorted(topics)}; choose views of one topic with `--view`."
        )
    root = stream_dir(settings, options)
    decoders: dict[str, EventDecoder] = {}
    tasks: list[ViewTask | RepartitionTask] = []
    repartitions: dict[str, RepartitionTask] = {}
    partitions: dict[str, int] = {}
    dead_letters: dict[str, str] = {}
    for view, spec in selected:
        source = view.stream_source
        assert isinstance(source, KafkaSource)
        topic = options.topic or _source_topic(view)
        decoder = decoders.get(source.name)
        if decoder is None:
            schema = parse_schema(getattr(source.kafka_options.message_format, "schema_json", ""))
            decoder = EventDecoder(schema, event_semantics(source.tags), spec.timestamp_field)
            decoders[source.name] = decoder
        partitions[topic] = TOPIC_PARTITIONS
        partitions[f"{topic}.dlq"] = 1
        dead_letters[topic] = f"{topic}.dlq"
        log = OfflineLog(root / spec.view, spec)
        keyed_by = message_key(view)
        if keyed_by is None or keyed_by == spec.key:
            tasks.append(ViewTask(spec, view, topic, decoder, log))
            continue
        internal = internal_topic(topic, spec.key)
        if internal not in repartitions:
            checkpoints = RepartitionCheckpoints(root / "_repartition" / internal)
            repartitions[internal] = RepartitionTask(
                topic, spec.key, internal, decoder, checkpoints
            )
            tasks.append(repartitions[internal])
            partitions[internal] = TOPIC_PARTITIONS
            dead_letters[internal] = f"{topic}.dlq"
        tasks.append(ViewTask(spec, view, internal, decoder, log, repartitioned=True))
    group_id = options.group_id or "featurestore." + "+".join(spec.view for _, spec in selected)
    options = options.model_copy(update={"group_id": group_id})
    servers = options.bootstrap_servers
    ensure_topics(servers, partitions)
    client = connect(redis_url)
    return StreamConsumer(
        tasks,
        consumer=make_consumer(
            servers, group_id, max_poll_records=options.max_poll_records, **consumer_overrides
        ),
        producer=make_producer(servers, max_in_flight_requests_per_connection=1),
        writer=OnlineWriter(client, store.project),
        options=options,
        dead_letter_topics=dead_letters,
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
    views: Sequence[str] | None = None,
    **options: Any,
) -> RunStats:
    """`featurestore stream`: serve the views (default: all) from Kafka into Redis."""
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
    consumer = build_consumer(settings, settings.redis_url, stream_options, views=views)
    return run_consumer(consumer)
