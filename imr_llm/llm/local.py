"""Run the bundled model behind llama.cpp's own server (xllamacpp), in a child process.

The child is ``imr_llm/llm/serve.py`` run as a script: native code that crashes or hangs
takes the child down, never the caller, and :meth:`LocalServer.stop` always ends it (its whole
process group). Standard library only, so this module imports cleanly without ``[local]``.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
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
from imr_llm.llm.weights import (
    INSTALL_HINT,
    MODEL_ENV,
    QWEN_1_5B,
    bundle_installed,
    bundled_model,
    model_from_env,
)

PYTHON_ENV = "IMR_LLM_LOCAL_PYTHON"
MODEL_DIR_ENV = "IMR_LLM_MODEL_DIR"
HOST = "127.0.0.1"
SERVE_SCRIPT = Path(__file__).with_name("serve.py")

_POLL_SECONDS = 0.25
_LOG_TAIL_CHARS = 2000
# The readiness probe talks to loopback; an http_proxy in the environment must not see it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def local_available() -> bool:
    """True when this interpreter can run the local model: xllamacpp and a model to serve."""
    has_model = bool(os.environ.get(MODEL_ENV)) or bundle_installed()
    return has_model and importlib.util.find_spec("xllamacpp") is not None


def models_folder() -> Path:
    """Where the joined bundled model is kept (1.1 GB): IMR_LLM_MODEL_DIR, else the user cache.

    Not the response cache folder: pointing that elsewhere (as tests do) must not join the
    model again.
    """
    if folder := os.environ.get(MODEL_DIR_ENV):
        return Path(folder).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imr-llm" / "models"


def model_path() -> Path:
    """The GGUF to serve: IMR_LLM_LOCAL_MODEL, else the verified bundled model."""
    return model_from_env() or bundled_model(models_folder())


def model_alias(path: Path) -> str:
    """The model name requests carry (and rows record)."""
    if path.name == QWEN_1_5B.file_name:
        return QWEN_1_5B.alias
    return path.stem


def server_command(
    python: str,
    model: str,
    port: int,
    *,
    alias: str = "local",
    n_ctx: int = 16384,
    n_parallel: int = 2,
    n_threads: int | None = None,
) -> list[str]:
    """The command line that serves ``model`` on 127.0.0.1:``port``."""
    threads = n_threads or os.cpu_count() or 1
    return [
        python, str(SERVE_SCRIPT),
        "--model", model,
        "--alias", alias,
        "--port", str(port),
        "--ctx", str(n_ctx),
        "--parallel", str(n_parallel),
        "--threads", str(threads),
    ]  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalServer:
    """A llama.cpp server (xllamacpp) for one GGUF model on 127.0.0.1, owned by this process."""

    def __init__(
        self,
        *,
        port: int | None = None,
        n_ctx: int = 16384,
        n_parallel: int = 2,
        n_threads: int | None = None,
        startup_timeout: float = 120.0,
        python: str | None = None,
        model_path: str | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self._requested_port = port
        self._port = port
        self._n_ctx = n_ctx
        self._n_parallel = n_parallel
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
        if self._model_path is None:
            return QWEN_1_5B.alias
        return model_alias(Path(self._model_path))

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The command line start() runs."""
        if self._command is not None:
            return [part.replace("{port}", str(self.port)) for part in self._command]
        if self._model_path is None:
            self._model_path = str(model_path())
        return server_command(
            self._python or sys.executable,
            self._model_path,
            self.port,
            alias=self.model,
            n_ctx=self._n_ctx,
            n_parallel=self._n_parallel,
            n_threads=self._n_threads,
        )

    def start(self) -> Self:
        """Launch the server and wait until GET /v1/models answers 200."""
        if self._proc is not None:
            return self
        self._port = self._requested_port or free_port()
        argv = self.command()
        self._workdir = Path(tempfile.mkdtemp(prefix="imr-llm-local-"))
        with open(self._workdir / "server.log", "wb") as log:
            # Our end of its stdin stays open while we want the server: if this process dies,
            # the pipe closes and the server stops too.
            self._proc = subprocess.Popen(
                argv,
                cwd=self._workdir,
                env=_server_env(),
                stdin=subprocess.PIPE,
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


# How long (in spins) an OpenMP thread waits at a barrier before it sleeps. Measured on
# 2 cores with the bundled model, writing 605 tokens of item answers: idle machine / one core
# taken by another process (tokens/s):
#   OMP_WAIT_POLICY=PASSIVE (no spin)  18.5 / 13.5
#   GOMP_SPINCOUNT=200                 20.4 / 13.0
#   GOMP_SPINCOUNT=1000                23.8 / 11.4
#   GOMP_SPINCOUNT=10000               24.4 /  5.1   (libgomp's default spins longer still)
# Prompt reading is the same under all of them.
SPIN_COUNT = "1000"


def _server_env() -> dict[str, str]:
    """The server's environment: OpenMP threads that spin briefly, then sleep.

    Threads that spin long make generation several times slower as soon as another process
    holds a core; threads that never spin lose a quarter of the speed on an idle machine
    (see SPIN_COUNT). A caller's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is kept.
    """
    env = dict(os.environ)
    if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:
        env["GOMP_SPINCOUNT"] = SPIN_COUNT
    return env


def _answers(url: str) -> bool:
    """True when GET url returns 200."""
    try:
        with _OPENER.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Close its stdin and ask the process group to stop; kill it after ``grace`` seconds."""
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
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


__all__ = [
    "HOST",
    "INSTALL_HINT",
    "PYTHON_ENV",
    "LocalServer",
    "free_port",
    "local_available",
    "model_alias",
    "model_path",
    "models_folder",
    "server_command",
]
