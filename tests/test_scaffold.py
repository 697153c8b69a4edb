"""`featurestore init --template NAME`: an example's repo is copied; unknown names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.errors import InvalidInputError
from featurestore.examples import EXAMPLES
from featurestore.examples.flights import bundled_repo
from featurestore.scaffold import init_repo


def test_an_example_template_copies_its_repo(tmp_path: Path) -> None:
    done = init_repo(tmp_path / "demo", "flights")

    copied = sorted(path.name for path in done.repo_path.iterdir())
    assert copied == sorted(
        path.name for path in bundled_repo().iterdir() if path.name != "__pycache__"
    )
    assert done.next_commands == ["featurestore ingest flights", "featurestore apply"]
    assert "flights" in EXAMPLES


def test_an_unknown_template_names_the_examples(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"`trains` is not an example data set.*`flights`"):
        init_repo(tmp_path / "demo", "trains")
