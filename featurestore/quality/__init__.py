"""Data quality: validation of sources against their declared semantics, reference statistics
of training sets, and training-vs-serving skew and drift measured in DuckDB."""
