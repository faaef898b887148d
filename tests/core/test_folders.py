"""The project's folders are resolved in one place and follow XDG_CACHE_HOME and EDGETUNE_CACHE_MIRROR."""
from core import folders


def test_folders_follow_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(folders.CACHE_MIRROR_ENV, raising=False)
    assert folders.cache_root() == tmp_path / "edgetune"
    assert folders.cache_mirror() == tmp_path / "edgetune" / "cache-mirror"
    assert folders.cluster_state() == tmp_path / "edgetune" / "local_cluster.json"


def test_the_mirror_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(folders.CACHE_MIRROR_ENV, str(tmp_path / "m"))
    assert folders.cache_mirror() == tmp_path / "m"


def test_without_xdg_the_home_cache_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert folders.cache_root() == tmp_path / ".cache" / "edgetune"
