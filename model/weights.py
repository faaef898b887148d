"""Pretrained weights: from the hub (true), none (false), or a local .safetensors / .pth file.

A local file is loaded by timm itself (`pretrained_cfg_overlay=dict(file=...)`), so the model's own
checkpoint filter runs (position-embedding resize, Swin bias tables) and the old classifier is dropped;
`checkpoint_path=` would be strict and fail on the new head. timm only logs missing keys, so they are
captured here and turned into an error: a file for another architecture must not load silently.
"""
from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path
from typing import Iterator, Union

from core.schema import ConfigError

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
_TIMM_BUILDER_LOG = "timm.models._builder"


class WeightsError(ConfigError):
    """A pretrained-weights file is missing, unreadable or does not match the backbone."""

    def __init__(self, path: Union[str, Path], rule: str):
        super().__init__("model.pretrained", str(path), rule)


def pretrained_kwargs(pretrained: Union[bool, str]) -> dict:
    """timm.create_model arguments for `ModelConfig.pretrained`; checks a file path before timm sees it."""
    if isinstance(pretrained, bool):
        return {"pretrained": pretrained}
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise WeightsError(pretrained, "is not an existing file")
    if path.suffix not in WEIGHT_SUFFIXES:
        raise WeightsError(pretrained, f"must end in one of {', '.join(WEIGHT_SUFFIXES)}")
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path.resolve())}}


@contextlib.contextmanager
def loading_weights(path: Union[str, Path, None]) -> Iterator[list[str]]:
    """Around timm.create_model: turns load failures and missing keys into one-line WeightsErrors."""
    if path is None:
        yield []
        return
    handler = _Capture()
    logger = logging.getLogger(_TIMM_BUILDER_LOG)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # INFO is raised for the capture only: it must not reach a WARNING-level console
    try:
        yield handler.messages
    except ConfigError:
        raise
    except Exception as err:  # torch, safetensors and pickle each raise their own types for a bad file
        raise WeightsError(path, f"could not be loaded ({type(err).__name__}): {first_line(err)}") from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    missing = [m for m in handler.messages if m.startswith("Missing keys")]
    if missing:
        keys = re.findall(r"\((.*)\)", missing[0])
        names = keys[0].split(", ") if keys else []
        raise WeightsError(path, f"does not match the backbone: {len(names)} parameters missing "
                                 f"(e.g. {', '.join(names[:3])})")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def first_line(err: BaseException) -> str:
    """The error's first non-empty line, at most 200 characters: the tail of a one-line WeightsError."""
    text = str(err).strip().splitlines()
    line = next((t.strip() for t in text if t.strip()), type(err).__name__)
    return line if len(line) <= 200 else line[:197] + "..."
