"""A storage location, a local path or a URI (s3://, gs://, file://) through pyarrow.fs: read, write, list, mirror.

`results` and `deploy` read experiments through `Store`, so a sweep stored on S3 is collected exactly
like a local one, and nothing needs Ray to be running. `open_experiment` is a `Store` checked to hold an
experiment (core/layout.py).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pyarrow.fs as pafs

from core.errors import UserError
from core.layout import SWEEP_INFO
from core.uri import is_uri, open_location, without_query


class ExperimentError(UserError):
    """The experiment directory is missing or unreadable; `str()` is the one-line message for the user."""


@dataclass(frozen=True)
class Store:
    """A filesystem and the experiment's root path on it."""

    fs: pafs.FileSystem
    root: str
    uri: str
    """The location as the user gave it, connection options included (to open it again)."""

    @property
    def shown(self) -> str:
        """The location for messages: a URI without its query (which may carry options or keys)."""
        return without_query(self.uri)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def is_dir(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type == pafs.FileType.Directory

    def read_text(self, *parts: str) -> str:
        with self.fs.open_input_stream(self.path(*parts)) as stream:
            return stream.read().decode("utf-8")

    def read_json(self, *parts: str, default: Any = None) -> Any:
        """Parsed JSON of a file, or `default` when it is missing; a broken file is an ExperimentError."""
        if not self.exists(*parts):
            return default
        try:
            return json.loads(self.read_text(*parts))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ExperimentError(f"{self.shown}/{'/'.join(parts)}: not valid JSON ({err})") from None

    def write_text(self, text: str, *parts: str) -> None:
        self.fs.create_dir(self.path(*parts[:-1]), recursive=True)
        with self.fs.open_output_stream(self.path(*parts)) as stream:
            stream.write(text.encode("utf-8"))

    def list_dir(self, *parts: str) -> list[pafs.FileInfo]:
        """Entries directly under a folder (empty when it does not exist)."""
        if not self.is_dir(*parts):
            return []
        return self.fs.get_file_info(pafs.FileSelector(self.path(*parts), recursive=False))

    def subdirs(self, *parts: str) -> list[str]:
        return sorted(i.base_name for i in self.list_dir(*parts) if i.type == pafs.FileType.Directory)

    def local_copy(self, *parts: str) -> tuple[Path, bool]:
        """A local path of the file (or folder), copying it to a temporary folder when the store is remote.

        Returns (path, is_temporary); the caller removes a temporary copy with `drop_local_copy`.
        """
        if isinstance(self.fs, pafs.LocalFileSystem):
            return Path(self.path(*parts)), False
        tmp = Path(tempfile.mkdtemp(prefix="results-"))
        target = tmp / parts[-1]
        if self.is_dir(*parts):
            target.mkdir()
            pafs.copy_files(self.path(*parts), str(target), source_filesystem=self.fs,
                            destination_filesystem=pafs.LocalFileSystem())
        else:
            with self.fs.open_input_stream(self.path(*parts)) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return target, True


def drop_local_copy(path: Path, is_temporary: bool) -> None:
    if is_temporary:
        shutil.rmtree(path.parent, ignore_errors=True)


def open_experiment(location: str, require: Optional[str] = SWEEP_INFO) -> Store:
    """The store of an experiment directory; an ExperimentError when it is missing or not an experiment."""
    location = str(location)
    try:
        fs, root = open_location(location if is_uri(location) else str(Path(location).resolve()))
    except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise ExperimentError(f"{without_query(location)}: cannot open the experiment location ({err})") from None
    store = Store(fs=fs, root=root, uri=location.rstrip("/"))
    if not store.is_dir():
        raise ExperimentError(f"{without_query(location)}: experiment directory not found")
    if require and not store.exists(require):
        raise ExperimentError(f"{without_query(location)}: not an experiment directory (no {require}; "
                              "pass <storage path>/<experiment name> as written by `python -m search.run`)")
    return store
