"""deploy.package.claim_folder: export replaces only a package it can prove it wrote, and deletes nothing else."""
from __future__ import annotations

import json

import pytest

from deploy.package import META_FILE, PACKAGE_FORMAT, WRITER, PackageError, claim_folder


def _package(folder, **meta):
    folder.mkdir()
    (folder / META_FILE).write_text(json.dumps({"format": PACKAGE_FORMAT, "writer": WRITER, **meta}))
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def _tree(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_a_package_it_wrote_is_replaced(tmp_path):
    folder = claim_folder(_package(tmp_path / "pkg"))
    assert folder.is_dir() and not any(folder.iterdir())


def test_new_and_empty_folders_are_used(tmp_path):
    assert claim_folder(tmp_path / "a" / "b").is_dir()
    (tmp_path / "empty").mkdir()
    assert claim_folder(tmp_path / "empty").is_dir()


@pytest.mark.parametrize("case", ["node-project", "foreign-package-json", "stray-file", "subfolder", "symlink",
                                  "other-format", "folder-is-a-symlink", "is-a-file"])
def test_what_it_cannot_prove_it_wrote_is_refused_and_kept(tmp_path, case):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    out = tmp_path / "out"
    if case == "node-project":  # every Node.js project has a package.json
        out.mkdir()
        (out / META_FILE).write_text('{"name": "my-app", "version": "1.0.0"}')
        (out / "index.js").write_text("console.log(1)")
        (out / "node_modules").mkdir()
        (out / "node_modules" / "dep.js").write_text("x")
    elif case == "foreign-package-json":
        out.mkdir()
        (out / META_FILE).write_text('{"format": 1, "classes": ["a"]}')
        (out / "model.safetensors").write_bytes(b"not ours")
    elif case == "stray-file":
        _package(out)
        (out / "notes.md").write_text("mine")
    elif case == "subfolder":
        _package(out)
        (out / "data").mkdir()
    elif case == "symlink":
        _package(out)
        (out / "model.onnx").symlink_to(outside)
    elif case == "other-format":
        _package(out, format=PACKAGE_FORMAT + 1)
    elif case == "folder-is-a-symlink":
        _package(tmp_path / "real")
        out.symlink_to(tmp_path / "real")
    else:
        out.write_text("a file")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()}
    tree = _tree(tmp_path)
    with pytest.raises(PackageError, match=r"^.*out: (folder is not empty and|exists and is not a folder)"):
        claim_folder(out)
    assert _tree(tmp_path) == tree
    assert {p: p.read_bytes() for p in before} == before
