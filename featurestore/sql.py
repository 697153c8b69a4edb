"""Quoting for SQL text built from names and values that users supply."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A DuckDB identifier, double-quoted with embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A DuckDB string literal, single-quoted with embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"
