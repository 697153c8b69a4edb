"""The example domain (nycflights13) is data and definitions: the library never names it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ("featurestore", "streaming")
EXAMPLES = ROOT / "featurestore" / "examples"
DOMAIN_WORDS = re.compile(
    r"nycflights|flights|\bflight_|carrier|dep_delay|weather_hourly|tailnum|departures?\b"
    r"|\b(JFK|EWR|LGA)\b",
    re.IGNORECASE,
)
SUFFIXES = {".py", ".html", ".js", ".css"}


def library_files() -> list[Path]:
    return sorted(
        path
        for package in LIBRARY
        for path in (ROOT / package).rglob("*")
        if path.suffix in SUFFIXES and not path.is_relative_to(EXAMPLES)
    )


def test_the_library_names_no_example_domain_outside_featurestore_examples() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in library_files()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if DOMAIN_WORDS.search(line)
    ]

    assert found == []


def test_the_scan_sees_the_library_and_the_example() -> None:
    scanned = library_files()
    example_hits = [
        path for path in EXAMPLES.rglob("*.py") if DOMAIN_WORDS.search(path.read_text())
    ]

    assert ROOT / "featurestore" / "cli.py" in scanned
    assert ROOT / "streaming" / "consumer.py" in scanned
    assert EXAMPLES / "flights" / "events.py" in example_hits
