"""An install without the `spark` extra never imports pyspark: only a repo that selects Spark
loads the Spark engine and the Spark coverage scans."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import featurestore
    skipped = {"featurestore.offline.spark_engine", "featurestore.catalog.coverage_spark"}
    for module in pkgutil.walk_packages(featurestore.__path__, "featurestore."):
        if module.name not in skipped and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    from featurestore.offline.engine import OfflineEngine
    from featurestore.offline.engines import open_engine

    class Store:
        class config:
            class offline_store:
                type = "featurestore.offline.feast_plugin.AsofOfflineStore"
        registry = None
        project = "p"

    engine = open_engine(Store)
    assert isinstance(engine, OfflineEngine), engine
    engine.close()
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in {"pyspark", "py4j"})
    print(",".join(loaded) or "none")
    """
)


def test_featurestore_modules_do_not_import_pyspark() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "none"
