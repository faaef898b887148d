"""The preprocessed image cache: decoded, resized uint8 images in Arrow IPC files, keyed by a content hash.

Layout (local path or pyarrow filesystem URI such as s3://bucket/caches):

    <cache_dir>/report.json            the last prepare's report
    <cache_dir>/<key>/manifest.json    classes, counts, source fingerprint, preprocessing parameters, key,
                                       and each file's hash (checked on reuse: a mismatch is rebuilt)
    <cache_dir>/<key>/report.json      what was kept and excluded, and why
    <cache_dir>/<key>/{train,validation,test}.arrow   one record batch each: image, label, path

The key hashes the source fingerprint (relative path, size and mtime_ns of every file, plus the manifest's
bytes: nothing is decoded) and every parameter that changes the cached pixels or the split. A build happens
in a temporary folder that is renamed into place, so a killed preparation never leaves a cache that looks
complete; on a remote store manifest.json is uploaded last and marks the cache complete. Readers
memory-map the Arrow files and get zero-copy, read-only numpy views.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pyarrow as pa

from core import atomic, folders
from core.uri import is_uri, join, open_location, without_query
from data_pipeline.config import DataConfig
from data_pipeline.scan import DecodeParams, decode_many
from data_pipeline.sources import (
    DUPLICATE,
    LEAKAGE,
    REASONS,
    SPLITS,
    DataError,
    Excluded,
    Record,
    SourceListing,
    display_path,
    list_source,
)
from data_pipeline.split import SPLIT_CODES, min_images_to_stratify, stratified_split, stratified_subset

__all__ = ["prepare_cache", "open_cache", "verify_cache", "cache_key", "DataError", "PreparedData", "Split", "SPLITS"]

log = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bump when the cached bytes or layout change: old caches then miss instead of being misread."""
MIRROR_ENV = folders.CACHE_MIRROR_ENV


@dataclass(frozen=True)
class Split:
    """One split of a prepared cache: memory-mapped images, labels and source-relative paths."""

    name: str
    images: np.ndarray
    """(N, H, W, 3) uint8, read-only, memory-mapped from the Arrow file."""
    labels: np.ndarray
    """(N,) int64 class indices into PreparedData.classes."""
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self, num_classes: int) -> np.ndarray:
        """Images per class, as an int64 array of length num_classes."""
        return np.bincount(self.labels, minlength=num_classes)

    def take(self, indices: np.ndarray) -> Split:
        """The images at `indices`, copied into memory."""
        return Split(self.name, self.images[indices], self.labels[indices], tuple(self.paths[i] for i in indices))

    @staticmethod
    def joined(name: str, splits: Sequence[Split]) -> Split:
        """One split holding the images of `splits` in order (copied into memory when there are several)."""
        if len(splits) == 1:
            return splits[0]
        return Split(name, np.concatenate([s.images for s in splits]), np.concatenate([s.labels for s in splits]),
                     tuple(p for s in splits for p in s.paths))

    def share(self, fraction: float, seed: int) -> Split:
        """A seeded `fraction` of each class (`data.train_fraction`), or the split itself at 1."""
        return self if fraction >= 1.0 else self.take(stratified_subset(self.labels, fraction, seed))


@dataclass(frozen=True)
class PreparedData:
    """A prepared cache: where it is, its classes, and its report. Cheap to pass around (no pixels)."""

    path: str
    """The <cache_dir>/<key> folder, local path or URI; `open_cache(path)` reopens it on any node."""
    key: str
    classes: tuple[str, ...]
    image_size: int
    report: dict = field(repr=False)
    hit: bool = False
    """True when prepare_cache reused an existing cache."""
    local_dir: str = ""
    """Local folder holding the Arrow files (the mirror of a remote cache); empty means `path`."""

    def split(self, name: str) -> Split:
        """Memory-map split `name` ("train" | "validation" | "test")."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; valid splits: {', '.join(SPLITS)}")
        return _read_split(Path(self.local_dir or self.path) / f"{name}.arrow", name, self.image_size)


def prepare_cache(cfg: DataConfig, *, progress: bool = True, workers: int | None = None) -> PreparedData:
    """Build the cache for `cfg`, or reuse the one with the same key; raises DataError on a bad source."""
    listing = list_source(cfg.source, cfg.manifest, image_col=cfg.image_col, label_col=cfg.label_col)
    key = cache_key(listing, cfg)
    store = _Store(cfg.cache_dir)
    if store.complete(key):
        data = dataclasses.replace(open_cache(store.key_path(key)), hit=True)
        problem = verify_cache(data)
        if not problem:
            store.write_last_report(data.report)
            log.info("cache hit: %s", without_query(data.path))
            return data
        log.warning("cache %s does not match its manifest (%s): not trusted, rebuilding it", without_query(data.path), problem)
        store.discard(key, Path(data.local_dir or data.path))
    try:
        tmp = store.build_dir(key)
        try:
            report = _build(listing, cfg, key, tmp, progress=progress, workers=workers)
            report["cache_path"] = store.key_path(key)
            atomic.write_json(tmp / "report.json", report, indent=1)
            local = store.publish(tmp, key)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as err:  # a full or read-only cache disk: one line, and no staging folder left behind
        reason = err.strerror or str(err).splitlines()[0]
        raise DataError(f"data.cache_dir {without_query(cfg.cache_dir)} cannot hold the cache ({reason}): free "
                        "space there or choose another data.cache_dir") from None
    store.write_last_report(_read_json(Path(local) / "report.json"))
    log.info("cache built: %s", without_query(store.key_path(key)))
    return dataclasses.replace(open_cache(store.key_path(key)), hit=False)


def open_cache(path: str) -> PreparedData:
    """Open a prepared <cache_dir>/<key> folder; a URI is downloaded once into the local mirror first."""
    local = _mirror(path) if is_uri(path) else Path(path)
    manifest_file = local / "manifest.json"
    if not manifest_file.is_file():
        raise DataError(f"{without_query(path)} is not a prepared cache (no manifest.json); run python -m data_pipeline.prepare")
    manifest = _read_json(manifest_file)
    if manifest.get("version") != CACHE_VERSION:
        raise DataError(f"{without_query(path)} was written by cache version {manifest.get('version')}, this code reads "
                        f"{CACHE_VERSION}; prepare it again")
    return PreparedData(path=str(path), key=manifest["key"], classes=tuple(manifest["classes"]),
                        image_size=int(manifest["image_size"]), report=_read_json(local / "report.json"),
                        hit=True, local_dir=str(local))


def verify_cache(data: PreparedData) -> str:
    """'' when every split file has the size and hash its manifest records, else what differs."""
    local = Path(data.local_dir or data.path)
    recorded = _read_json(local / "manifest.json").get("digests")
    if not recorded:
        return "the manifest records no file hashes"
    for name, expected in sorted(recorded.items()):
        file = local / name
        if not file.is_file():
            return f"{name} is missing"
        if _digest(file) != expected:
            return f"{name} has changed since it was written"
    return ""


def cache_params(cfg: DataConfig) -> dict:
    """Every parameter that changes the cached pixels, the split or the classes."""
    return {"version": CACHE_VERSION, "manifest": bool(cfg.manifest), "image_col": cfg.image_col,
            "label_col": cfg.label_col, "min_count": cfg.min_count, "include": sorted(cfg.include),
            "exclude": sorted(cfg.exclude), "val_frac": cfg.val_frac, "test_frac": cfg.test_frac,
            "seed": cfg.seed, "image_size": cfg.image_size, "min_image_side": cfg.min_image_side,
            "max_image_pixels": cfg.max_image_pixels, "max_per_class": cfg.max_per_class}


def cache_key(listing: SourceListing, cfg: DataConfig) -> str:
    """16 hex digits: hash of the source fingerprint and `cache_params(cfg)`."""
    blob = json.dumps({"fingerprint": listing.fingerprint, "params": cache_params(cfg)}, sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


# ---------------------------------------------------------------------------------------------- building

def _build(listing: SourceListing, cfg: DataConfig, key: str, out: Path, *, progress: bool,
           workers: Optional[int]) -> dict:
    records, dropped = _filter_labels(listing, cfg)
    records = sorted(_cap_before_decode(records, cfg, listing.kind), key=_record_order)
    size = cfg.image_size
    staging = allocated_memmap(out / ".staging.npy", (max(len(records), 1), size, size, 3))
    start = time.perf_counter()
    keep, excluded = _decode_into(staging, records, listing, cfg, progress=progress, workers=workers)
    decode_s = time.perf_counter() - start
    kept = [records[i] for i in keep]
    classes, more_dropped = _surviving_classes(kept, listing.kind, cfg)
    dropped += more_dropped
    rows_by_split = _assign_splits(kept, keep, classes, listing.kind, cfg)
    counts = {}
    for split in SPLITS:
        rows = rows_by_split[split]
        labels = np.array([classes.index(records[r].label) for r in rows], dtype=np.int64)
        paths = [display_path(records[r].rel) for r in rows]
        _write_split(out / f"{split}.arrow", out / ".gather.npy", staging, np.array(rows, np.int64), labels, paths, size)
        counts[split] = {c: int((labels == i).sum()) for i, c in enumerate(classes)}
    del staging
    (out / ".staging.npy").unlink()
    manifest = {"version": CACHE_VERSION, "key": key, "classes": list(classes), "counts": counts,
                "image_size": size, "source": str(listing.root), "kind": listing.kind,
                "fingerprint": listing.fingerprint, "params": cache_params(cfg),
                "files": {s: f"{s}.arrow" for s in SPLITS},
                "digests": {f"{s}.arrow": _digest(out / f"{s}.arrow") for s in SPLITS}}
    atomic.write_json(out / "manifest.json", manifest, indent=1)
    return _report(listing, cfg, key, classes, counts, excluded, dropped, len(records), decode_s, workers, out)


def allocated_memmap(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A uint8 .npy memory map whose blocks are allocated on disk before anything is written to it.

    `open_memmap` makes a sparse file: on a disk that fills up, the page that finds no block kills the
    process with SIGBUS. Allocated up front, a full disk is an OSError (ENOSPC) here instead.
    """
    sparse = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    body, size = sparse.offset, os.path.getsize(path)
    del sparse
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                path.unlink(missing_ok=True)
                raise
            f.seek(body)  # a filesystem without fallocate: the same blocks, written as zeros
            for start in range(body, size, 1 << 24):
                f.write(bytes(min(1 << 24, size - start)))
    return np.lib.format.open_memmap(path, mode="r+")


def _record_order(rec: Record):
    """Train before validation before test, then class, then path: 'the later copy' of a duplicate."""
    return (SPLIT_CODES.get(rec.split or "train", 0), rec.label, os.fsencode(rec.rel))


def _filter_labels(listing: SourceListing, cfg: DataConfig) -> tuple[list[Record], list[dict]]:
    labels = Counter(r.label for r in listing.records)
    missing = [name for name in cfg.include if name not in labels]
    if missing:
        raise DataError(f"data.include names labels the source does not have: {', '.join(missing)}; "
                        f"labels: {', '.join(sorted(labels))}")
    unknown = [name for name in cfg.exclude if name not in labels]
    if unknown:
        log.warning("data.exclude names labels the source does not have: %s", ", ".join(unknown))
    wanted = set(cfg.include) if cfg.include else set(labels)
    wanted -= set(cfg.exclude)
    dropped = [{"class": c, "images": n, "reason": "not in data.include" if c not in set(cfg.include or labels)
                else "in data.exclude"} for c, n in sorted(labels.items()) if c not in wanted]
    return [r for r in listing.records if r.label in wanted], dropped


def _cap_before_decode(records: list[Record], cfg: DataConfig, kind: str) -> list[Record]:
    """With max_per_class, decode only a seeded sample big enough to fill every split's cap."""
    if cfg.max_per_class is None:
        return records
    shares = [s for s in (1.0 - cfg.val_frac - cfg.test_frac, cfg.val_frac, cfg.test_frac) if s > 0]
    cap = cfg.max_per_class if kind == "presplit" else int(np.ceil(cfg.max_per_class / min(shares)))
    groups: dict[tuple, list[Record]] = {}
    for rec in sorted(records, key=_record_order):
        groups.setdefault((rec.split, rec.label), []).append(rec)
    out = []
    for i, (_, group) in enumerate(sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))):
        if len(group) > cap:
            pick = np.sort(np.random.default_rng([cfg.seed, i]).choice(len(group), cap, replace=False))
            group = [group[j] for j in pick]
        out += group
    return out


def _decode_into(staging: np.ndarray, records: list[Record], listing: SourceListing, cfg: DataConfig, *,
                 progress: bool, workers: Optional[int]) -> tuple[list[int], list[Excluded]]:
    """Decode every record into staging[i]; returns the kept indices and the excluded files with reasons."""
    params = DecodeParams(cfg.image_size, cfg.min_image_side, cfg.max_image_pixels)
    paths = [str(listing.root / r.rel) for r in records]
    excluded, keep, seen = list(listing.excluded), [], {}
    for i, res in enumerate(decode_many(paths, params, workers=workers, progress=progress)):
        rec = records[i]
        if res.pixels is None:
            excluded.append(Excluded(display_path(rec.rel), res.reason, res.detail))
            continue
        first = seen.setdefault(res.digest, i)
        if first != i:
            other = records[first]
            same_place = other.label == rec.label and other.split == rec.split
            where = "/".join(filter(None, (other.split, other.label)))
            excluded.append(Excluded(display_path(rec.rel), DUPLICATE if same_place else LEAKAGE,
                                     f"same bytes as {display_path(other.rel)} ({where})"))
            continue
        staging[i] = np.frombuffer(res.pixels, np.uint8).reshape(staging.shape[1:])
        keep.append(i)
    return keep, excluded


def _surviving_classes(kept: list[Record], kind: str, cfg: DataConfig) -> tuple[list[str], list[dict]]:
    counts = Counter(r.label for r in kept)
    need = 1 if kind == "presplit" else min_images_to_stratify(cfg.val_frac, cfg.test_frac)
    dropped = []
    for label, n in sorted(counts.items()):
        if n < cfg.min_count:
            dropped.append({"class": label, "images": n, "reason": f"fewer than min_count={cfg.min_count} valid images"})
        elif n < need:
            dropped.append({"class": label, "images": n,
                            "reason": f"too few valid images to stratify ({n} < {need}, one per non-empty split)"})
    for d in dropped:
        log.warning("class %r dropped: %s", d["class"], d["reason"])
    classes = sorted(c for c in counts if c not in {d["class"] for d in dropped})
    if not classes:
        raise DataError(f"data.source {str(cfg.source)!r}: no class has usable images left "
                        f"({len(kept)} valid images; see the excluded files and dropped classes in report.json)")
    return classes, dropped


def _assign_splits(kept: list[Record], keep: list[int], classes: list[str], kind: str,
                   cfg: DataConfig) -> dict[str, list[int]]:
    """Staging rows of each split, in (class, path) order, capped at max_per_class per class."""
    pairs = [(row, rec) for row, rec in zip(keep, kept) if rec.label in classes]
    if kind == "presplit":
        codes = [SPLIT_CODES[rec.split] for _, rec in pairs]
    else:
        labels = np.array([classes.index(rec.label) for _, rec in pairs], dtype=np.int64)
        codes = stratified_split(labels, cfg.val_frac, cfg.test_frac, cfg.seed).tolist() if len(labels) else []
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    taken: Counter = Counter()
    for (row, rec), code in zip(pairs, codes):
        split = SPLITS[code]
        if cfg.max_per_class is None or taken[(split, rec.label)] < cfg.max_per_class:
            taken[(split, rec.label)] += 1
            out[split].append(row)
    return out


def _write_split(path: Path, gather_file: Path, staging: np.ndarray, rows: np.ndarray, labels: np.ndarray,
                 paths: list[str], size: int) -> None:
    """One record batch per file, so readers can view all images as one contiguous array."""
    n, row_bytes = len(rows), size * size * 3
    if n:
        gathered = allocated_memmap(gather_file, (n, size, size, 3))
        for a in range(0, n, 1024):  # chunks keep resident memory flat for large splits
            gathered[a:a + 1024] = staging[rows[a:a + 1024]]
        buf = pa.py_buffer(gathered)
    else:
        gathered, buf = None, pa.py_buffer(b"")
    images = pa.FixedSizeBinaryArray.from_buffers(pa.binary(row_bytes), n, [None, buf])
    schema = pa.schema([("image", pa.binary(row_bytes)), ("label", pa.int64()), ("path", pa.string())],
                       metadata={"image_size": str(size)})
    batch = pa.record_batch([images, pa.array(labels, pa.int64()), pa.array(paths, pa.string())], schema=schema)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_batch(batch)
    del images, batch, buf, gathered
    gather_file.unlink(missing_ok=True)


def _report(listing, cfg, key, classes, counts, excluded, dropped, decoded, decode_s, workers, out) -> dict:
    by_reason = Counter(e.reason for e in excluded)
    return {
        "key": key, "source": str(listing.root), "kind": listing.kind, "manifest": cfg.manifest,
        "classes": list(classes), "splits": counts,
        "excluded": [e.as_dict() for e in excluded],
        "excluded_counts": {r: by_reason[r] for r in REASONS if by_reason[r]},
        "dropped_classes": dropped, "notes": list(listing.notes),
        "files_listed": listing.files, "decoded": decoded, "decode_seconds": round(decode_s, 3),
        "images_per_second": round(decoded / decode_s, 1) if decode_s > 0 else None,
        "workers": workers or os.cpu_count(), "image_size": cfg.image_size,
        "cache_bytes": sum(f.stat().st_size for f in out.glob("*.arrow")),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# ---------------------------------------------------------------------------------------------- reading

def _read_split(file: Path, name: str, size: int) -> Split:
    if not file.is_file():
        raise DataError(f"{file} is missing: the cache is incomplete; delete its folder and prepare again")
    reader = pa.ipc.open_file(pa.memory_map(str(file), "r"))
    batch = reader.get_batch(0)
    n, row_bytes = batch.num_rows, size * size * 3
    column = batch.column(0)
    data = column.buffers()[1]
    if n == 0 or data is None:
        images = np.zeros((0, size, size, 3), np.uint8)
        images.flags.writeable = False
    else:
        images = np.frombuffer(data, np.uint8, count=n * row_bytes, offset=column.offset * row_bytes)
        images = images.reshape(n, size, size, 3)
    labels = batch.column(1).to_numpy(zero_copy_only=True)
    return Split(name, images, labels, tuple(batch.column(2).to_pylist()))


# ---------------------------------------------------------------------------------------------- storage

def _mirror_root() -> Path:
    return folders.cache_mirror()


class _Store:
    """A cache_dir on the local disk or behind a pyarrow filesystem URI."""

    def __init__(self, cache_dir: str):
        self.cache_dir = str(cache_dir).rstrip("/")
        self.remote = is_uri(self.cache_dir)
        if self.remote:
            try:
                self.fs, self.root = open_location(self.cache_dir)
            except (pa.ArrowInvalid, OSError) as err:
                raise DataError(f"data.cache_dir {without_query(cache_dir)!r} is not a usable filesystem URI: {err}") from None
        else:
            self.root = self.cache_dir

    def key_path(self, key: str) -> str:
        return join(self.cache_dir, key)

    def complete(self, key: str) -> bool:
        if self.remote:
            from pyarrow import fs

            return self.fs.get_file_info(f"{self.root}/{key}/manifest.json").type == fs.FileType.File
        return (Path(self.root) / key / "manifest.json").is_file()

    def build_dir(self, key: str) -> Path:
        base = _mirror_root() if self.remote else Path(self.root)
        tmp = base / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        return tmp

    def publish(self, tmp: Path, key: str) -> str:
        """Move a finished build into place; returns the local folder that now holds it."""
        if self.remote:
            self.fs.create_dir(f"{self.root}/{key}", recursive=True)
            for f in sorted(tmp.iterdir(), key=lambda p: p.name == "manifest.json"):  # manifest last
                _upload(self.fs, f, f"{self.root}/{key}/{f.name}")
        local = (_mirror_root() if self.remote else Path(self.root)) / key
        try:
            os.rename(tmp, local)
        except OSError:
            if not (local / "manifest.json").is_file():  # another process published the same key first
                raise
        return str(local)

    def discard(self, key: str, local: Path) -> None:
        """Remove a cache that failed verification (its local copy; a remote one is overwritten by the rebuild)."""
        if self.remote:
            self.fs.delete_file(f"{self.root}/{key}/manifest.json")
        aside = local.with_name(f".bad-{key}-{uuid.uuid4().hex[:8]}")
        os.rename(local, aside)
        shutil.rmtree(aside, ignore_errors=True)

    def write_last_report(self, report: dict) -> None:
        data = json.dumps(report, indent=1).encode()
        if self.remote:
            with self.fs.open_output_stream(f"{self.root}/report.json") as out:
                out.write(data)
        else:
            atomic.write_bytes(Path(self.root) / "report.json", data)


def _upload(filesystem, local: Path, dest: str) -> None:
    with open(local, "rb") as src, filesystem.open_output_stream(dest) as out:
        shutil.copyfileobj(src, out, length=8 << 20)


def _mirror(uri: str) -> Path:
    """Download a remote <key> folder once into the local mirror; later calls reuse it."""
    from pyarrow import fs

    filesystem, path = open_location(uri)
    path = path.rstrip("/")
    local = _mirror_root() / Path(path).name
    if (local / "manifest.json").is_file():
        return local
    tmp = _mirror_root() / f".tmp-{Path(path).name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(path, allow_not_found=True))
        for info in infos:
            if info.type == fs.FileType.File:
                with filesystem.open_input_stream(info.path) as src, open(tmp / info.base_name, "wb") as out:
                    shutil.copyfileobj(src, out, length=8 << 20)
        if not (tmp / "manifest.json").is_file():
            raise DataError(f"{without_query(uri)} is not a prepared cache (no manifest.json)")
        try:
            os.rename(tmp, local)
        except OSError:
            if not (local / "manifest.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return local


def _digest(path: Path) -> str:
    """blake2b of a file's bytes, read in 8 MiB blocks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
