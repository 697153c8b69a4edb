"""The data catalog: discovery, lineage, coverage, freshness, rights and registration.

Pure parts (entries, search, lineage, its SVG and OpenLineage export) build on plain records;
small adapters read DuckDB (coverage), Redis (freshness), SQLite (ledger) and the Feast
registry (snapshot, registration). `CatalogService` ties them together for the API.
"""
