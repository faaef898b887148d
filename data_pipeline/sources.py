"""Where images come from: a class-per-folder tree, a pre-split tree, or a CSV manifest plus an image folder.

A source is listed once, without decoding anything: each candidate file becomes a `Record` (its path, its
label, and the split a pre-split tree gives it), and files that can already be ruled out (a manifest row whose
image is missing, a file no row labels) become `Excluded` entries. The same listing yields the fingerprint
that keys the cache (relative path, size and mtime_ns of each file, plus the manifest's bytes).
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from core.errors import UserError

log = logging.getLogger(__name__)


class DataError(UserError):
    """A user-facing data problem (missing source, unusable manifest, no classes left); `str()` is one line."""


# Why a file is left out; report.json's `excluded[].reason` takes exactly these values.
MISSING = "missing"
UNREADABLE = "unreadable"
TRUNCATED = "truncated"
NOT_IMAGE = "not an image"
TOO_SMALL = "too small"
BOMB = "decompression bomb"
NO_LABEL = "no label"
DUPLICATE = "duplicate"
LEAKAGE = "leakage"
REASONS: tuple[str, ...] = (MISSING, UNREADABLE, TRUNCATED, NOT_IMAGE, TOO_SMALL, BOMB, NO_LABEL, DUPLICATE, LEAKAGE)

SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_ALIASES: dict[str, str] = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
"""Tried, in order, when a manifest names an image without its extension."""


def display_path(rel: str) -> str:
    """A printable, UTF-8-safe form of a relative path (undecodable bytes become `\\xNN`)."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class FileEntry:
    """One file found on disk: its path relative to the source root, size and mtime."""

    rel: str
    """Relative path as the OS gave it (may hold surrogate escapes for non-UTF-8 names)."""
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Record:
    """A candidate image: where it is, its label, and the split a pre-split tree assigned (else None)."""

    rel: str
    label: str
    split: Optional[str] = None


@dataclass(frozen=True)
class Excluded:
    """A file left out of the dataset, and why."""

    path: str
    reason: str
    detail: str = ""

    def as_dict(self) -> dict:
        return {"path": self.path, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class SourceListing:
    """Everything known about a source before decoding."""

    kind: str
    """folder | presplit | manifest."""
    root: Path
    records: tuple[Record, ...]
    excluded: tuple[Excluded, ...]
    fingerprint: str
    """Hash of every file's (relative path, size, mtime_ns) and of the manifest's bytes."""
    files: int = 0
    notes: tuple[str, ...] = field(default=())


def list_source(source: str, manifest: Optional[str] = None, *, image_col: str = "image",
                label_col: str = "label") -> SourceListing:
    """List the candidate images of a source; raises DataError when the source cannot be used at all."""
    root = Path(source)
    if not source or not root.is_dir():
        raise DataError(f"data.source {source!r} is not a directory (expected an image folder tree"
                        " or the image folder of a manifest)")
    if manifest:
        return _list_manifest(root, Path(manifest), image_col, label_col)
    split_dirs = _split_dirs(root)
    if split_dirs:
        return _list_presplit(root, split_dirs)
    return _list_folder(root)


def walk_files(root: Path, sub: str = "") -> list[FileEntry]:
    """Every regular, non-hidden file under root/sub, sorted by relative path.

    Links are followed only within the tree, and each folder is entered once: a link out of the tree, a
    link loop or a folder reached twice is skipped with a warning, so a hostile tree costs bounded time.
    """
    top = root.resolve()
    out: list[FileEntry] = []
    seen: set[tuple[int, int]] = set()
    stack = [sub]
    while stack:
        rel_dir = stack.pop()
        folder = root / rel_dir if rel_dir else root
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                log.warning("skipping %s: a link makes it a second path to a folder already listed",
                            display_path(str(folder)))
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(folder))
        except OSError as err:
            log.warning("cannot list %s: %s", display_path(str(folder)), err.strerror or err)
            continue
        for entry in entries:
            if entry.name.startswith(".") or not _inside(entry, top):
                continue  # .DS_Store, editor swap files, our own temp folders; links out of the tree
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_dir(follow_symlinks=True):
                stack.append(rel)
            elif entry.is_file(follow_symlinks=True):
                st = entry.stat(follow_symlinks=True)
                out.append(FileEntry(rel, st.st_size, st.st_mtime_ns))
    return sorted(out, key=lambda f: os.fsencode(f.rel))


def _inside(entry: os.DirEntry, top: Path) -> bool:
    """A plain entry, or a link whose target resolves inside `top`; a dangling, looping or outward link is not."""
    if not entry.is_symlink():
        return True
    try:
        target = Path(entry.path).resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: a link loop, on Python < 3.13
        log.warning("skipping %s: a dangling or looping link", display_path(entry.path))
        return False
    if target == top or top in target.parents:
        return True
    log.warning("skipping %s: links out of the image tree (to %s)", display_path(entry.path), display_path(str(target)))
    return False


def fingerprint(files: Iterable[FileEntry], extra: bytes = b"") -> str:
    """Fast content proxy of a source: no file is read, only listed and stat'ed."""
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        h.update(os.fsencode(f.rel) + b"\0" + f"{f.size}:{f.mtime_ns}\n".encode())
    h.update(b"manifest\0" + extra)
    return h.hexdigest()


def _split_dirs(root: Path) -> dict[str, str]:
    """{canonical split: folder name} when root is a pre-split tree (a train folder and a val or test one)."""
    found = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        canonical = SPLIT_ALIASES.get(entry.name.lower())
        if canonical and entry.is_dir() and canonical not in found:
            found[canonical] = entry.name
    return found if "train" in found and len(found) >= 2 else {}


def _class_tree(root: Path, sub: str, split: Optional[str]) -> tuple[list[FileEntry], list[Record], list[Excluded]]:
    files = walk_files(root, sub)
    records, excluded = [], []
    depth = sub.count("/") + 1 if sub else 0
    for f in files:
        parts = f.rel.split("/")
        if len(parts) == depth + 1:
            if sub:  # a file loose in a split folder has no class folder
                excluded.append(Excluded(display_path(f.rel), NO_LABEL, "not inside a class folder"))
            continue  # files at the root of a folder tree (README, LICENSE) are not data
        records.append(Record(f.rel, display_path(parts[depth]), split))
    return files, records, excluded


def _list_folder(root: Path) -> SourceListing:
    files, records, excluded = _class_tree(root, "", None)
    files = [f for f in files if "/" in f.rel]
    if not records:
        raise DataError(f"data.source {str(root)!r} has no class folders with files "
                        "(expected ROOT/<class>/<image> or ROOT/{train,validation,test}/<class>/<image>)")
    return SourceListing("folder", root, tuple(records), tuple(excluded), fingerprint(files), len(files))


def _list_presplit(root: Path, split_dirs: dict[str, str]) -> SourceListing:
    all_files, records, excluded = [], [], []
    for split in SPLITS:
        if split in split_dirs:
            files, recs, excl = _class_tree(root, split_dirs[split], split)
            all_files += files
            records += recs
            excluded += excl
    notes = ("pre-split tree: its own train/validation/test split is kept; val_frac, test_frac and seed are unused",)
    return SourceListing("presplit", root, tuple(records), tuple(excluded), fingerprint(all_files),
                         len(all_files), notes)


def _list_manifest(root: Path, manifest: Path, image_col: str, label_col: str) -> SourceListing:
    try:
        data = manifest.read_bytes()
    except OSError as err:
        raise DataError(f"data.manifest {str(manifest)!r} cannot be read: {err.strerror or err}") from None
    rows = _read_rows(manifest, data, image_col, label_col)
    files = [f for f in walk_files(root) if _same_file(root / f.rel, manifest) is False]
    resolve = _resolver(files)
    records, excluded, labelled = [], [], set()
    for line, image, label in rows:
        rel = resolve(image)
        if rel is None:
            excluded.append(Excluded(image, MISSING, f"{manifest.name} line {line}: no such image under the source"))
        elif not label:
            excluded.append(Excluded(display_path(rel), NO_LABEL, f"{manifest.name} line {line}: empty {label_col}"))
            labelled.add(rel)
        elif rel not in labelled:
            labelled.add(rel)
            records.append(Record(rel, label))
    for f in files:
        if f.rel not in labelled:
            excluded.append(Excluded(display_path(f.rel), NO_LABEL, f"no row of {manifest.name} names it"))
    return SourceListing("manifest", root, tuple(records), tuple(excluded), fingerprint(files, data), len(files))


def _read_rows(manifest: Path, data: bytes, image_col: str, label_col: str) -> list[tuple[int, str, str]]:
    text = data.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    for col, flag in ((image_col, "--image-col"), (label_col, "--label-col")):
        if col not in header:
            raise DataError(f"data.manifest {str(manifest)!r}: no column {col!r} ({flag}); columns: {', '.join(header)}")
    rows = []
    for i, row in enumerate(reader, start=2):
        image = (row.get(image_col) or "").strip()
        if image:
            rows.append((i, image, (row.get(label_col) or "").strip()))
    return rows


def _resolver(files: list[FileEntry]):
    """Map a manifest's image value (a name or relative path, with or without extension) to a listed file."""
    by_rel = {f.rel: f.rel for f in files}
    by_stem: dict[str, str] = {}
    for f in files:
        stem_rel = os.path.splitext(f.rel)[0]
        for key in (stem_rel, os.path.basename(f.rel), os.path.basename(stem_rel)):
            by_stem.setdefault(key, f.rel)

    def resolve(image: str) -> Optional[str]:
        image = image.replace("\\", "/")
        image = image[2:] if image.startswith("./") else image
        if image in by_rel:
            return image
        for ext in IMAGE_EXTENSIONS:
            for cand in (image + ext, image + ext.upper()):
                if cand in by_rel:
                    return cand
        return by_stem.get(image)

    return resolve


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
