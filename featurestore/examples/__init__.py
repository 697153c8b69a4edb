"""Example domains shipped with featurestore: their data, presets and demo.

An example is data and definitions, not library code: the library never imports one, and the
CLI offers each by name (`featurestore ingest NAME`, `replay NAME`, `init --template NAME`,
`demo`). Each example package provides `ingest`, `replay`, `DEFAULT_TOPIC`, `scaffold_repo`,
`bundled_repo`, `run_demo` and `demo_report`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

from featurestore.errors import InvalidInputError

EXAMPLES: Final = ("flights",)
"""The example data sets, by name."""
DEMO: Final = "flights"
"""The example `featurestore demo` runs."""


def example(name: str) -> ModuleType:
    """The package of the example named `name`."""
    if name not in EXAMPLES:
        raise InvalidInputError(
            f"`{name}` is not an example data set; the examples are "
            f"{', '.join(f'`{known}`' for known in EXAMPLES)}."
        )
    return importlib.import_module(f"featurestore.examples.{name}")
