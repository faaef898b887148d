"""The project's own folders on this machine, resolved in one place.

    $XDG_CACHE_HOME/edgetune/ (default ~/.cache/edgetune/)
        timm-<version>-models.txt   timm's model names, for checks that never import timm
        cache-mirror/               local copies of remote data caches (EDGETUNE_CACHE_MIRROR moves it)
        local_cluster.json          the state of `python -m cluster.local`
    <tmp>/edgetune-sweeps-<user>/   staging copies of experiments stored at a URI

Each is read when asked for, so a test (or a user) can move them with the environment variables.
"""
from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path
from typing import Optional

CACHE_MIRROR_ENV = "EDGETUNE_CACHE_MIRROR"
"""Local folder that remote data caches are downloaded into (default <cache root>/cache-mirror)."""


def cache_root() -> Optional[Path]:
    """$XDG_CACHE_HOME/edgetune, else ~/.cache/edgetune; None on a machine without a home directory."""
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "edgetune"
    try:
        return Path.home() / ".cache" / "edgetune"
    except RuntimeError:
        return None


def cache_mirror() -> Path:
    """Where remote data caches are mirrored: $EDGETUNE_CACHE_MIRROR, else <cache root>/cache-mirror."""
    if os.environ.get(CACHE_MIRROR_ENV):
        return Path(os.environ[CACHE_MIRROR_ENV])
    root = cache_root()
    return root / "cache-mirror" if root else Path(tempfile.gettempdir()) / "edgetune-cache-mirror"


def cluster_state() -> Path:
    """The default state file of the local test cluster."""
    root = cache_root()
    return (root or Path(tempfile.gettempdir()) / "edgetune") / "local_cluster.json"


def sweep_mirror() -> Path:
    """Staging root for experiments stored at a URI (one per user: the driver's local copy)."""
    return Path(tempfile.gettempdir()) / f"edgetune-sweeps-{getpass.getuser()}"
