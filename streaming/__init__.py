"""The stream consumer service: Kafka events → windowed features in Redis and the offline log."""
