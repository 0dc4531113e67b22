"""Where a repository's objects live: a local directory, or an object store through fsspec.

The only module that touches a repository's storage. Names are `/`-separated, relative to the
repository's root. A write is atomic: locally a temporary name in the same directory, then a
rename; on an object store one PUT (an object appears whole or not at all). Any failure of the
storage becomes a RepositoryError with one line; a missing object is `Missing`.

Object stores come from fsspec (`s3://` with s3fs, `gs://` with gcsfs, `az://`/`abfs://` with
adlfs), configured as each store's own tools are (environment, config files, instance roles)
and by fsspec's configuration (`FSSPEC_S3_ENDPOINT_URL=http://host:9000` for S3-compatible
servers, or a file under `~/.config/fsspec/`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from pfx.errors import RepositoryError, UsageError
from pfx.files import atomic_file
from pfx.profiles import redact_url

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}


class Missing(RepositoryError):
    """The object does not exist (callers decide whether that is a problem)."""


class Store(Protocol):
    """The operations a repository needs of its storage."""

    url: str

    def probe(self) -> bool:
        """Whether anything is stored under the root (a bucket that does not exist is an
        error); proves that the location answers and accepts the credentials."""
        ...

    def read(self, name: str) -> bytes: ...

    def read_many(self, names: list[str]) -> dict[str, bytes]:
        """The objects that exist among `names` (fetched concurrently where the store can)."""
        ...

    def write(self, name: str, data: bytes) -> None: ...

    def upload(self, name: str, source: Path) -> None: ...

    def download(self, name: str, target: Path) -> None: ...

    def download_many(self, targets: dict[str, Path]) -> None:
        """Download each object to its target file (concurrently where the store can)."""
        ...

    def list(self, prefix: str) -> dict[str, int]:
        """Object name -> size for every object under `prefix` (a directory name)."""
        ...

    def delete(self, name: str) -> None:
        """Remove an object; one that is already gone is fine."""
        ...


def open_store(url: str) -> Store:
    """The store at `url`: a local path or `file://` URL, or an fsspec object store URL."""
    if "://" not in url or url.startswith("file://"):
        return LocalStore(Path(url.removeprefix("file://")).expanduser())
    protocol = url.split("://", 1)[0].lower()
    try:
        import fsspec
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - fsspec comes with prefect
        raise UsageError("object store repositories need fsspec: pip install fsspec") from None
    if protocol not in fsspec.available_protocols():
        raise UsageError(f"unknown storage protocol {protocol!r} in {redact_url(url)}")
    try:
        fs, root = url_to_fs(url, skip_instance_cache=True)
    except ImportError:
        extra = EXTRAS.get(protocol, protocol)
        raise UsageError(
            f"{protocol}:// repositories need an extra package: pip install 'pfx[{extra}]'"
        ) from None
    except (ValueError, TypeError) as e:
        raise UsageError(f"bad repository URL {redact_url(url)}: {e}") from None
    return ObjectStore(redact_url(url), fs, root.rstrip("/"))


@contextlib.contextmanager
def translated(url: str, what: str) -> Iterator[None]:
    """Storage failures as one line (Missing for an object that is not there)."""
    try:
        yield
    except RepositoryError:
        raise
    except FileNotFoundError as e:
        raise Missing(f"{url}: {what}: not found") from e
    except PermissionError as e:
        raise RepositoryError(
            f"repository {url} refused access ({what}): {_reason(e)}; check its credentials"
        ) from None
    except (OSError, TimeoutError) as e:
        raise RepositoryError(f"repository {url}: cannot {what}: {_reason(e)}") from None
    except Exception as e:
        # botocore and aiohttp errors that fsspec does not translate (no credentials found,
        # endpoint unreachable): one line, whatever the store.
        if type(e).__module__.split(".")[0] in {"botocore", "aiohttp", "aiobotocore", "google"}:
            raise RepositoryError(f"repository {url}: cannot {what}: {_reason(e)}") from None
        raise


def _reason(e: BaseException) -> str:
    text = str(e.args[-1] if isinstance(e, OSError) and e.args else e) or type(e).__name__
    return text.splitlines()[0][:300]


class LocalStore:
    """A directory on this machine (created by the first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*name.split("/"))

    def probe(self) -> bool:
        with translated(self.url, "read the repository"):
            if self.root.exists() and not self.root.is_dir():
                raise RepositoryError(f"{self.url} is a file, not a repository directory")
            return self.root.is_dir() and bool(os.listdir(self.root))

    def read(self, name: str) -> bytes:
        with translated(self.url, f"read {name}"):
            return self._path(name).read_bytes()

    def read_many(self, names: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for name in names:
            with contextlib.suppress(Missing):
                out[name] = self.read(name)
        return out

    def write(self, name: str, data: bytes) -> None:
        with translated(self.url, f"write {name}"), self._temporary(name) as fh:
            fh.write(data)

    def upload(self, name: str, source: Path) -> None:
        with (
            translated(self.url, f"write {name}"),
            self._temporary(name) as fh,
            open(source, "rb") as src,
        ):
            while chunk := src.read(1 << 20):
                fh.write(chunk)

    @contextlib.contextmanager
    def _temporary(self, name: str) -> Iterator[BinaryIO]:
        """A file under a temporary name next to `name`, renamed to it when complete (the one
        atomic writer, pfx.files)."""
        target = self._path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target, 0o600) as fh:
            yield fh

    def download(self, name: str, target: Path) -> None:
        with (
            translated(self.url, f"read {name}"),
            open(self._path(name), "rb") as src,
            open(target, "wb") as out,
        ):
            while chunk := src.read(1 << 20):
                out.write(chunk)

    def download_many(self, targets: dict[str, Path]) -> None:
        for name, target in targets.items():
            self.download(name, target)

    def list(self, prefix: str) -> dict[str, int]:
        base = self._path(prefix)
        out: dict[str, int] = {}
        with translated(self.url, f"list {prefix}"):
            try:
                entries = list(os.scandir(base))
            except (FileNotFoundError, NotADirectoryError):
                return out
            for entry in entries:
                # Another writer may rename or delete a file between listing and stat.
                with contextlib.suppress(FileNotFoundError):
                    if entry.is_file():
                        out[f"{prefix}/{entry.name}"] = entry.stat().st_size
        return out

    def delete(self, name: str) -> None:
        with translated(self.url, f"delete {name}"):
            self._path(name).unlink(missing_ok=True)


class ObjectStore:
    """An fsspec filesystem under a root prefix (`bucket/prefix`)."""

    def __init__(self, url: str, fs: AbstractFileSystem, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def probe(self) -> bool:
        bucket = self.root.split("/", 1)[0]
        with translated(self.url, "list the repository"):
            self.fs.invalidate_cache()
            try:
                self.fs.ls(bucket, detail=False)
            except FileNotFoundError:
                raise RepositoryError(
                    f"repository {self.url}: bucket {bucket!r} does not exist"
                ) from None
            if self.root == bucket:
                return bool(self.fs.ls(bucket, detail=False))
            try:
                return bool(self.fs.ls(self.root, detail=False))
            except FileNotFoundError:
                return False  # an object store has no empty directories: nothing there yet

    def read(self, name: str) -> bytes:
        with translated(self.url, f"read {name}"):
            data: bytes = self.fs.cat_file(self._path(name))
            return data

    def read_many(self, names: list[str]) -> dict[str, bytes]:
        if not names:
            return {}
        paths = {self._path(n): n for n in names}
        with translated(self.url, f"read {len(names)} objects"):
            got = self.fs.cat(list(paths), on_error="return")
        out: dict[str, bytes] = {}
        for path, value in got.items():
            name = paths.get(path) or paths.get(path.split("://", 1)[-1])
            if name is None:
                continue
            if isinstance(value, FileNotFoundError):
                continue
            if isinstance(value, BaseException):
                with translated(self.url, f"read {name}"):
                    raise value
            out[name] = value
        return out

    def write(self, name: str, data: bytes) -> None:
        with translated(self.url, f"write {name}"):
            self.fs.pipe_file(self._path(name), data)

    def upload(self, name: str, source: Path) -> None:
        with translated(self.url, f"write {name}"):
            self.fs.put_file(str(source), self._path(name))

    def download(self, name: str, target: Path) -> None:
        with translated(self.url, f"read {name}"):
            self.fs.get_file(self._path(name), str(target))

    def download_many(self, targets: dict[str, Path]) -> None:
        if not targets:
            return
        # One call: an async filesystem (s3fs, gcsfs, adlfs) fetches them together.
        names = list(targets)
        with translated(self.url, f"read {len(names)} objects"):
            self.fs.get([self._path(n) for n in names], [str(targets[n]) for n in names])

    def list(self, prefix: str) -> dict[str, int]:
        with translated(self.url, f"list {prefix}"):
            self.fs.invalidate_cache()
            try:
                found = self.fs.find(self._path(prefix), detail=True)
            except FileNotFoundError:
                return {}
        start = len(self.root) + 1
        out: dict[str, int] = {}
        assert isinstance(found, dict)
        for path, info in found.items():
            if info.get("type") == "directory":
                continue
            out[path[start:]] = int(info.get("size") or 0)
        return out

    def delete(self, name: str) -> None:
        with translated(self.url, f"delete {name}"), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(name))
