"""The bundled model's weights: joined from chunk packages, refused unless the hash matches."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from imr_llm.errors import LlmError, UsageError
from imr_llm.llm import weights
from imr_llm.llm.weights import QWEN_1_5B, Bundle, bundled_model, model_from_env, part_files

PARTS = [b"GGUF" + b"a" * 996, b"b" * 1000, b"c" * 17]
WHOLE = b"".join(PARTS)


def _bundle(data: bytes = WHOLE) -> Bundle:
    return Bundle(
        file_name="tiny.gguf",
        alias="tiny",
        package="no-such-model-part{n}",
        parts=len(PARTS),
        version="0.1.0",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@pytest.fixture
def part_paths(tmp_path: Path) -> list[Path]:
    paths = []
    for n, chunk in enumerate(PARTS, 1):
        path = tmp_path / "site" / f"part{n:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(chunk)
        paths.append(path)
    return paths


def test_joins_the_parts_in_order_and_verifies_them(tmp_path: Path, part_paths: list[Path]) -> None:
    calls: list[str] = []

    def parts(bundle: Bundle) -> list[Path]:
        calls.append(bundle.file_name)
        return part_paths

    model = bundled_model(tmp_path / "models", _bundle(), parts)
    assert model.read_bytes() == WHOLE
    stamp = json.loads(model.with_name("tiny.gguf.verified").read_text())
    assert stamp["sha256"] == _bundle().sha256 and stamp["size"] == len(WHOLE)
    # A second use trusts the stamp: the parts are not read again.
    assert bundled_model(tmp_path / "models", _bundle(), parts) == model
    assert calls == ["tiny.gguf"]


@pytest.mark.parametrize("copied_before_failing", [0, 300])
def test_joins_by_reading_where_the_kernel_cannot_copy(
    tmp_path: Path,
    part_paths: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    copied_before_failing: int,
) -> None:
    # Another filesystem or an old kernel: copy_file_range fails at once, or after a few bytes.
    real = os.copy_file_range

    def copy_then_fail(src: int, dst: int, count: int, *args: int) -> int:
        if copied_before_failing and os.lseek(src, 0, os.SEEK_CUR) == 0:
            return real(src, dst, min(count, copied_before_failing))
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", copy_then_fail)
    model = bundled_model(tmp_path / "models", _bundle(), lambda _: part_paths)
    assert model.read_bytes() == WHOLE


def test_joins_by_reading_where_the_os_has_no_kernel_copy(
    tmp_path: Path, part_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "copy_file_range", raising=False)  # not Linux
    model = bundled_model(tmp_path / "models", _bundle(), lambda _: part_paths)
    assert model.read_bytes() == WHOLE


def test_refuses_parts_whose_hash_is_not_the_pinned_one(
    tmp_path: Path, part_paths: list[Path]
) -> None:
    part_paths[1].write_bytes(b"x" * 1000)  # same size, other bytes
    folder = tmp_path / "models"
    with pytest.raises(LlmError, match="refusing to use it"):
        bundled_model(folder, _bundle(), lambda _: part_paths)
    assert list(folder.iterdir()) == []  # nothing half-written is left behind


def test_refuses_a_missing_part(tmp_path: Path, part_paths: list[Path]) -> None:
    with pytest.raises(LlmError, match=r"1,000 bytes|2,013 bytes|refusing"):
        bundled_model(tmp_path / "models", _bundle(), lambda _: part_paths[:2])


def test_a_file_changed_after_verification_is_hashed_again_and_rejoined(
    tmp_path: Path, part_paths: list[Path]
) -> None:
    folder = tmp_path / "models"
    model = bundled_model(folder, _bundle(), lambda _: part_paths)
    with model.open("r+b") as f:  # flip one byte; size unchanged, mtime moves
        f.seek(100)
        f.write(b"Z")
    os.utime(model, ns=(1, 1))
    rejoined: list[int] = []

    def parts(bundle: Bundle) -> list[Path]:
        rejoined.append(1)
        return part_paths

    assert bundled_model(folder, _bundle(), parts).read_bytes() == WHOLE
    assert rejoined == [1]


def test_an_unstamped_good_file_is_hashed_once(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.gguf").write_bytes(WHOLE)

    def no_parts(bundle: Bundle) -> list[Path]:
        raise AssertionError("the good file must not be rejoined")

    assert bundled_model(folder, _bundle(), no_parts).read_bytes() == WHOLE
    assert (folder / "tiny.gguf.verified").exists()


def test_part_files_names_the_missing_package() -> None:
    with pytest.raises(UsageError, match=r"no-such-model-part1 is not installed.*\[local\]"):
        part_files(_bundle())


def test_model_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(weights.MODEL_ENV, raising=False)
    assert model_from_env() is None
    good = tmp_path / "m.gguf"
    good.write_bytes(b"GGUF\x03\x00")
    monkeypatch.setenv(weights.MODEL_ENV, str(good))
    assert model_from_env() == good
    bad = tmp_path / "m.bin"
    bad.write_bytes(b"PK\x03\x04")
    monkeypatch.setenv(weights.MODEL_ENV, str(bad))
    with pytest.raises(UsageError, match="not a GGUF"):
        model_from_env()
    monkeypatch.setenv(weights.MODEL_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(UsageError, match="cannot read it"):
        model_from_env()


@pytest.mark.skipif(not weights.bundle_installed(), reason="needs the [local] extra")
def test_the_installed_parts_add_up_to_the_pinned_size() -> None:
    paths = part_files()
    assert len(paths) == QWEN_1_5B.parts == 22
    assert [p.name for p in paths] == [f"part{n:02d}.bin" for n in range(1, 23)]
    assert sum(p.stat().st_size for p in paths) == QWEN_1_5B.size
    assert paths[0].read_bytes()[:4] == b"GGUF"
