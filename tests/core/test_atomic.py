"""Atomic writes: the whole new file or the old one, and no temporary left behind, even when writing fails."""
import json
import threading

import pytest

from core import atomic


def test_write_json_creates_the_folder_and_leaves_no_temporary(tmp_path):
    path = atomic.write_json(tmp_path / "a" / "b.json", {"x": 1}, indent=1)
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in path.parent.iterdir()] == ["b.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = atomic.write_text(tmp_path / "f.txt", "old")
    with pytest.raises(TypeError):
        atomic.write_json(path, {"x": object()})
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_concurrent_writers_never_share_a_temporary(tmp_path):
    path, errors = tmp_path / "state.json", []

    def write(n: int) -> None:
        try:
            for i in range(50):
                atomic.write_json(path, {"writer": n, "i": i, "pad": "x" * 10_000})
        except OSError as err:  # a shared temporary name makes one writer's rename find no file
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and json.loads(path.read_text())["i"] == 49
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_temporary_beside_is_unique_and_in_the_same_folder(tmp_path):
    a, b = atomic.temporary_beside(tmp_path / "x.pt"), atomic.temporary_beside(tmp_path / "x.pt")
    assert a != b and a.parent == b.parent == tmp_path
