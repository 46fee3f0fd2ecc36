"""Finding a data set's files on disk, and downloading them safely when asked.

Files are looked for locally first, in a fixed order: the ``root`` the user passed (and the folder a dataset
keeps under it), ``$EMBER_DATA``, the user cache ``~/.cache/ember``, then well-known system locations
(Debian's ``dataset-fashion-mnist`` package puts Fashion-MNIST in ``/usr/share/datasets/fashion-mnist``). When
nothing is found, the error names every place looked at and what to do.

A download tries the dataset's canonical mirrors in order. Each file streams into a temporary file in the
target folder while its checksum (MD5 as the dataset's publishers list it, or SHA-256) is computed; only a
complete file whose checksum matches is renamed into place (``ember.atomic``: ``os.replace``, atomic on one
file system).
Anything else, a truncated transfer, a wrong checksum, a refused connection, leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from ember.atomic import atomic_file
from ember.errors import DataFormatError, EmberError

CHUNK = 1 << 20
TIMEOUT = 30.0


class DatasetNotFoundError(EmberError, FileNotFoundError):
    """A dataset's files are in none of the places Ember looks."""


class DownloadError(EmberError, RuntimeError):
    """No mirror delivered a complete file with the published checksum."""


def cache_dir() -> Path:
    """The user cache, ``~/.cache/ember`` (``$XDG_CACHE_HOME/ember`` when that is set)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ember"


def search_dirs(
    root: str | os.PathLike[str] | None, folders: Sequence[str], system_dirs: Sequence[str] = ()
) -> list[Path]:
    """Every folder where a dataset's files may live, in the order they are tried (duplicates dropped)."""
    bases: list[Path] = []
    if root is not None:
        bases.append(Path(root).expanduser())
    if os.environ.get("EMBER_DATA"):
        bases.append(Path(os.environ["EMBER_DATA"]).expanduser())
    bases.append(cache_dir())
    places: list[Path] = []
    for base in bases:
        places.append(base)
        places.extend(base / folder for folder in folders)
    places.extend(Path(d) for d in system_dirs)
    unique: list[Path] = []
    for place in places:
        if place not in unique:
            unique.append(place)
    return unique


def download_dir(root: str | os.PathLike[str] | None, folder: str) -> Path:
    """Where a download goes: ``root/folder``, else ``$EMBER_DATA/folder``, else the user cache."""
    if root is not None:
        return Path(root).expanduser() / folder
    if os.environ.get("EMBER_DATA"):
        return Path(os.environ["EMBER_DATA"]).expanduser() / folder
    return cache_dir() / folder


def existing(directory: Path, name: str) -> Path | None:
    """``directory/name``, or its gzip-compressed or uncompressed twin, if one exists."""
    twins = [name, name[:-3]] if name.endswith(".gz") else [name, name + ".gz"]
    for twin in twins:
        path = directory / twin
        if path.is_file():
            return path
    return None


def locate(names: Sequence[str], places: Iterable[Path]) -> Path | None:
    """The first folder in ``places`` that holds every file in ``names`` (compressed or not)."""
    for place in places:
        if all(existing(place, name) is not None for name in names):
            return place
    return None


def not_found(dataset: str, names: Sequence[str], places: Sequence[Path]) -> DatasetNotFoundError:
    looked = "\n".join(f"  {place}" for place in places)
    return DatasetNotFoundError(
        f"{dataset}: files {', '.join(names)} not found. Ember looked in:\n{looked}\n"
        f"Pass root= the folder that holds them, set $EMBER_DATA, or pass download=True to fetch them "
        f"from the dataset's mirrors (checksums are verified)."
    )


REFETCH = "delete it and download it again (download=True, or --download on the command line)"


def damaged(path: str | os.PathLike[str], problem: str, remedy: str = REFETCH) -> DataFormatError:
    """The one-line error for a data file that exists but is not what it should be: file, problem, remedy."""
    return DataFormatError(f"{path}: {problem}; {remedy}")


def file_digest(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _algorithm(checksum: str) -> str:
    """MD5 (32 hex digits) or SHA-256 (64)."""
    if len(checksum) == 32:
        return "md5"
    if len(checksum) == 64:
        return "sha256"
    raise ValueError(f"a checksum must be MD5 (32 hex digits) or SHA-256 (64), got {checksum!r}")


def _fetch(url: str, destination: Path, checksum: str | None, timeout: float) -> None:
    """Stream ``url`` to a temporary file beside ``destination``; rename it into place if whole and right."""
    digest = hashlib.new(_algorithm(checksum), usedforsecurity=False) if checksum else None
    with (
        atomic_file(destination) as out,
        urllib.request.urlopen(url, timeout=timeout) as response,
    ):
        expected = response.headers.get("Content-Length")
        received = 0
        for block in iter(lambda: response.read(CHUNK), b""):
            out.write(block)
            received += len(block)
            if digest is not None:
                digest.update(block)
        if expected is not None and received != int(expected):
            raise DownloadError(f"transfer stopped after {received} of {expected} bytes")
        if digest is not None and digest.hexdigest() != checksum:
            raise DownloadError(f"{digest.name} checksum {digest.hexdigest()} != published {checksum}")


def download(
    mirrors: Sequence[str],
    filename: str,
    directory: str | os.PathLike[str],
    checksum: str | None = None,
    timeout: float = TIMEOUT,
) -> Path:
    """Fetch ``filename`` from the first mirror (a base URL) that delivers it whole, with the checksum."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    destination = directory / filename
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _fetch(url, destination, checksum, timeout)
            return destination
        except (OSError, DownloadError) as error:  # URLError and HTTPError are OSErrors
            failures.append(f"  {url}: {error}")
    raise DownloadError(f"could not download {filename}; tried:\n" + "\n".join(failures))


def extract_tar(archive: Path, directory: Path) -> None:
    """Unpack a tar archive into ``directory`` refusing absolute paths, links out and devices
    (``filter='data'``).
    """
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")


def find_or_download(
    dataset: str,
    names: Sequence[str],
    root: str | os.PathLike[str] | None,
    folders: Sequence[str],
    system_dirs: Sequence[str],
    download: bool,
    fetch: Callable[[Path], None],
) -> Path:
    """The folder holding all of ``names``: found locally, else fetched into place by ``fetch(folder)``."""
    places = search_dirs(root, folders, system_dirs)
    found = locate(names, places)
    if found is not None:
        return found
    if not download:
        raise not_found(dataset, names, places)
    target = download_dir(root, folders[0])
    fetch(target)
    found = locate(names, [target])
    if found is None:
        raise DownloadError(
            f"{dataset}: the download finished but {', '.join(names)} are not all in {target}"
        )
    return found
