"""Classify photos with a model package: `python -m deploy.predict --model DIR IMAGE_OR_FOLDER ...`.

Folders are searched recursively for images (by extension); files named explicitly are always tried.
Each photo is decoded exactly as the training cache was built (data_pipeline.scan.decode_file) and fed
through the evaluation loader (data_pipeline.loader.BatchLoader), in batches, on CPU or GPU. A photo that
cannot be decoded gives a row with its error instead of stopping the run. Output: one row per photo with
the top-k labels and calibrated probabilities (softmax of logits / the package's temperature), as CSV or JSON, on stdout or into --out.

    python -m deploy.predict --model packages/demo photos/ shirt.jpg --top-k 3 --format json
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np
import torch

from core.cli import command
from data_pipeline.cache import Split
from data_pipeline.loader import BatchLoader
from data_pipeline.scan import Decoded, DecodeParams, decode_file
from data_pipeline.sources import IMAGE_EXTENSIONS, MISSING, walk_files
from deploy.package import ONNX_FILE, ONNX_INPUT, ModelPackage, PackageError, load_package
from model.device import resolve_device

log = logging.getLogger("deploy.predict")

BACKENDS = ("torch", "onnx")
FORMATS = ("csv", "json")


@dataclass(frozen=True)
class Prediction:
    """One photo's outcome: the top-k labels with their probabilities, or the reason it was not classified."""

    path: str
    labels: tuple[str, ...] = ()
    probs: tuple[float, ...] = ()
    error: str = ""

    def as_dict(self) -> dict:
        return {"path": self.path, "error": self.error or None,
                "predictions": [{"label": lab, "prob": p} for lab, p in zip(self.labels, self.probs)]}


class Predictor:
    """A package's classifier behind one call: normalized input batch -> logits, on the chosen backend."""

    def __init__(self, package: ModelPackage, backend: str = "torch", device: str = "auto"):
        if backend not in BACKENDS:
            raise PackageError(f"backend is {backend!r}, but must be one of {', '.join(BACKENDS)}")
        self.package, self.backend = package, backend
        if backend == "onnx":
            self.device = torch.device("cpu")  # the session reads host numpy arrays
            self.session = _onnx_session(package, device)
        else:
            self.device = _resolve_device(device)
            self.model = package.build_model(self.device)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, classes) float32 logits on the CPU for a normalized (B, 3, S, S) batch."""
        if self.backend == "onnx":
            out = self.session.run(None, {ONNX_INPUT: x.cpu().numpy()})[0]
            return torch.from_numpy(np.asarray(out, dtype=np.float32))
        return self.model(x.to(self.device)).float().cpu()


    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Calibrated class probabilities: softmax(logits / T) with the package's temperature."""
        return torch.softmax(self.logits(x) / self.package.temperature, dim=1)


def find_images(inputs: Sequence[str]) -> list[str]:
    """Files as given, then each folder's image files (recursively, sorted); inputs that do not exist are kept."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            images = [str(path / f.rel) for f in walk_files(path) if Path(f.rel).suffix.lower() in IMAGE_EXTENSIONS]
            if not images:
                log.warning("%s: no image files (%s) in this folder", item, ", ".join(IMAGE_EXTENSIONS))
            found += images
        else:
            found.append(str(path))  # a missing file becomes an error row, not a crash
    return found


def predict_files(paths: Sequence[str], predictor: Predictor, *, batch_size: int = 64, top_k: int = 5,
                  progress: bool = True) -> Iterator[Prediction]:
    """Classify `paths` in order, `batch_size` at a time; decoding of the next batch overlaps the model."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size is {batch_size}, but must be >= 1")
    prep = predictor.package.preprocessing
    params = DecodeParams(prep.image_size, prep.min_image_side, prep.max_image_pixels)
    batches = [list(paths[i:i + batch_size]) for i in range(0, len(paths), batch_size)]
    bar = tqdm(total=len(paths), desc="predict", unit="img", disable=not progress, file=sys.stderr)
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        pending = _decode_async(pool, batches[0], params) if batches else None
        for i, batch in enumerate(batches):
            decoded = [f.result() for f in pending]
            pending = _decode_async(pool, batches[i + 1], params) if i + 1 < len(batches) else None
            yield from _classify_batch(batch, decoded, predictor, top_k)
            bar.update(len(batch))
    bar.close()


def classify(model_dir: str, inputs: Sequence[str], *, backend: str = "torch", device: str = "auto",
             batch_size: int = 64, top_k: int = 5, progress: bool = False) -> list[Prediction]:
    """Load the package in `model_dir` and classify every image in `inputs` (files and folders)."""
    predictor = Predictor(load_package(model_dir), backend, device)
    return list(predict_files(find_images(inputs), predictor, batch_size=batch_size, top_k=top_k, progress=progress))


def _decode_async(pool: ThreadPoolExecutor, batch: list[str], params: DecodeParams) -> list:
    # PIL releases the GIL while decoding and resizing, so threads decode in parallel.
    return [pool.submit(decode_file, path, p) for path, p in zip(batch, repeat(params))]


def _classify_batch(paths: list[str], decoded: list[Decoded], predictor: Predictor, top_k: int) -> list[Prediction]:
    good = [i for i, d in enumerate(decoded) if d.pixels is not None]
    rows = {i: Prediction(paths[i], error=_error_text(paths[i], decoded[i])) for i, d in enumerate(decoded)
            if d.pixels is None}
    if good:
        x = _model_input([decoded[i] for i in good], predictor)
        probs = predictor.probabilities(x)
        top = probs.topk(min(top_k, probs.shape[1]), dim=1)
        classes = predictor.package.classes
        for row, i in enumerate(good):
            rows[i] = Prediction(paths[i], tuple(classes[j] for j in top.indices[row].tolist()),
                                 tuple(float(p) for p in top.values[row].tolist()))
    return [rows[i] for i in range(len(paths))]


def _model_input(decoded: list[Decoded], predictor: Predictor) -> torch.Tensor:
    """The evaluation loader's batch for decoded cache-format images: resize and normalize on the device."""
    prep = predictor.package.preprocessing
    size = prep.image_size
    images = np.stack([np.frombuffer(d.pixels, np.uint8).reshape(size, size, 3) for d in decoded])
    split = Split("predict", images, np.zeros(len(decoded), np.int64), tuple(str(i) for i in range(len(decoded))))
    loader = BatchLoader(split, batch_size=len(decoded), device=predictor.device, mean=prep.mean, std=prep.std,
                         out_size=prep.input_size, prefetch=False)
    x, _ = next(loader.iterate())
    return x


def _error_text(path: str, decoded: Decoded) -> str:
    if decoded.reason == MISSING:
        return "missing: no such file"
    return f"{decoded.reason}: {decoded.detail}" if decoded.detail else decoded.reason


def _resolve_device(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except ValueError as err:
        raise PackageError(f"--{err}") from None


def _onnx_session(package: ModelPackage, device: str):
    try:
        import onnxruntime as ort
    except ImportError:
        raise PackageError("--backend onnx needs onnxruntime (pip install onnxruntime)") from None
    available = ort.get_available_providers()
    wants_gpu = device != "cpu" and "CUDAExecutionProvider" in available
    if device.startswith("cuda") and not wants_gpu:
        log.warning("onnxruntime has no CUDA provider here (%s); running ONNX on the CPU", ", ".join(available))
    providers = (["CUDAExecutionProvider"] if wants_gpu else []) + ["CPUExecutionProvider"]
    return ort.InferenceSession(str(package.file(ONNX_FILE)), providers=providers)


# ------------------------------------------------------------------------------------------- output

def format_rows(rows: Iterable[Prediction], fmt: str, top_k: int) -> str:
    """CSV (path, error, label_1, prob_1, ...) or a JSON list of {path, error, predictions}."""
    if fmt == "json":
        return json.dumps([r.as_dict() for r in rows], indent=1) + "\n"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "error", *(f"{k}_{i}" for i in range(1, top_k + 1) for k in ("label", "prob"))])
    for r in rows:
        cells = [c for lab, p in zip(r.labels, r.probs) for c in (lab, f"{p:.6f}")]
        writer.writerow([r.path, r.error, *cells, *([""] * (2 * top_k - len(cells)))])
    return buf.getvalue()


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m deploy.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and folders (searched recursively)")
    p.add_argument("--model", required=True, help="model package folder (written by python -m deploy.export)")
    p.add_argument("--top-k", type=int, default=3, help="labels per image, most probable first (default 3)")
    p.add_argument("--format", choices=FORMATS, default="csv", help="output format (default csv)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="torch: the PyTorch model from the weights; onnx: model.onnx on ONNX Runtime (default torch)")
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--out", help="write the rows to this file instead of stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p.parse_args(argv)


@command
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.top_k < 1 or args.batch_size < 1:
        raise PackageError(f"--top-k ({args.top_k}) and --batch-size ({args.batch_size}) must be >= 1")
    predictor = Predictor(load_package(args.model), args.backend, args.device)
    paths = find_images(args.inputs)
    if not paths:
        raise PackageError(f"no images found in {', '.join(args.inputs)}")
    rows = list(predict_files(paths, predictor, batch_size=args.batch_size, top_k=args.top_k,
                              progress=not args.no_progress))
    top_k = min(args.top_k, len(predictor.package.classes))
    text = format_rows(rows, args.format, top_k)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    failed = sum(1 for r in rows if r.error)
    log.info("%d images classified, %d could not be read%s", len(rows) - failed, failed,
             f" -> {args.out}" if args.out else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
