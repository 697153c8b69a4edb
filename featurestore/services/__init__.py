"""Real local Redis and Kafka-protocol servers for whatever the settings leave unset."""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType

from featurestore.errors import ConfigError
from featurestore.services.broker import EmbeddedBroker
from featurestore.services.process import ManagedProcess, free_port
from featurestore.services.redis import EmbeddedRedis
from featurestore.settings import Settings

__all__ = ["EmbeddedBroker", "EmbeddedRedis", "ManagedProcess", "Services", "free_port"]

logger = logging.getLogger("featurestore.services")


class Services:
    """The Redis URL and Kafka servers to use, starting embedded ones only where none is set."""

    def __init__(
        self,
        redis_url: str | None,
        kafka_bootstrap_servers: str | None,
        embedded_redis: EmbeddedRedis | None = None,
        embedded_broker: EmbeddedBroker | None = None,
    ) -> None:
        self._redis_url = redis_url
        self._kafka_bootstrap_servers = kafka_bootstrap_servers
        self.embedded_redis = embedded_redis
        self.embedded_broker = embedded_broker
        self._stack = contextlib.ExitStack()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, need_redis: bool = True, need_kafka: bool = False
    ) -> Services:
        """Plan the services; entering the context starts the embedded ones."""
        start_redis = need_redis and not settings.redis_url
        start_broker = need_kafka and not settings.kafka_bootstrap_servers
        return cls(
            settings.redis_url,
            settings.kafka_bootstrap_servers,
            EmbeddedRedis() if start_redis else None,
            EmbeddedBroker() if start_broker else None,
        )

    @property
    def redis_url(self) -> str:
        if self.embedded_redis is not None:
            return self.embedded_redis.url
        if self._redis_url is None:
            raise ConfigError(
                "redis_url", None, "Redis was not requested; pass need_redis=True or set it"
            )
        return self._redis_url

    @property
    def kafka_bootstrap_servers(self) -> str | None:
        if self.embedded_broker is not None:
            return self.embedded_broker.bootstrap_servers
        return self._kafka_bootstrap_servers

    @property
    def started_names(self) -> list[str]:
        """Human names of the embedded servers this object starts, e.g. for a summary."""
        names = []
        if self.embedded_redis is not None:
            names.append(f"redis-server ({self.embedded_redis.url})")
        if self.embedded_broker is not None:
            names.append(f"tansu ({self.embedded_broker.bootstrap_servers})")
        return names

    def __enter__(self) -> Services:
        with contextlib.ExitStack() as stack:  # stops what started if a later start fails
            if self.embedded_redis is not None:
                stack.enter_context(self.embedded_redis)
                logger.info("Started embedded Redis at %s", self.embedded_redis.url)
            if self.embedded_broker is not None:
                stack.enter_context(self.embedded_broker)
                logger.info(
                    "Started embedded Kafka-protocol broker at %s",
                    self.embedded_broker.bootstrap_servers,
                )
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()
