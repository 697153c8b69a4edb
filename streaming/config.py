"""The consumer's options: a pydantic model, one documented field per knob."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StreamOptions(BaseModel):
    """How one consumer process runs; the CLI fills it from flags and settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = Field(description="Kafka `host:port` list the consumer reads from.")
    group_id: str | None = Field(
        default=None,
        description="Consumer group; processes in one group split the partitions. "
        "Default: `featurestore.<view>+<view>…` of the views served.",
    )
    topic: str | None = Field(
        default=None,
        description="Topic to read instead of the views' Kafka source topic (views of one "
        "topic only).",
    )
    offline_log_dir: Path | None = Field(
        default=None,
        description="Folder of the offline logs, one `<view>/` each, and of the repartitioning "
        "checkpoints (`_repartition/`). Default: `<data dir>/stream`.",
    )
    checkpoint_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Most time between offline-log checkpoints (and Kafka commits); a crash "
        "replays at most this much, rewriting the same values.",
    )
    max_poll_records: int = Field(default=5000, gt=0, description="Largest batch one poll returns.")
    poll_timeout_seconds: float = Field(
        default=1.0, ge=1.0, description="Poll wait; Tansu stalls group joins on shorter polls."
    )
    retry_initial_seconds: float = Field(
        default=0.1, gt=0, description="First wait before retrying a transient Redis failure."
    )
    retry_max_seconds: float = Field(default=2.0, gt=0, description="Longest wait between retries.")
    stop_grace_seconds: float = Field(
        default=30.0,
        gt=0,
        description="After a stop request, how long to keep retrying before exiting uncommitted.",
    )
    stop_when_caught_up: bool = Field(
        default=False,
        description="Return once every assigned partition is read to its high-water mark "
        "(replays, tests, benchmarks) instead of running until stopped.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the metrics endpoint binds (0.0.0.0 in Docker)."
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Serve Prometheus `/metrics` on this port."
    )
