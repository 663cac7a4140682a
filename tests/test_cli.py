"""The command line: one row per input, one clear stderr line per bad file, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply, chat_completion, full_answer

from imr_llm.cli.app import EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, main

DATA = Path(__file__).parent / "data"
LETTER = DATA / "corpus" / "dev" / "CM16-0213037.txt"


def _rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_one_letter_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["anchors", str(LETTER)]) == EXIT_OK
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 1
    assert rows[0]["status"] == "ok"
    assert rows[0]["llm"] is None
    assert {e["status"] for e in rows[0]["evidence"]} == {"anchor_only"}


def test_pretty_output_is_indented_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["anchors", "--pretty", str(LETTER)]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("{\n  ")
    assert json.loads(out)["record"]["case_number"] == "CM16-0213037"


def test_directory_of_bad_files_gives_one_row_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(DATA / "bad", folder)
    shutil.copy(LETTER, folder / "good.txt")
    (folder / "note.txt").write_text("Patient seen today for knee pain. Plan: ice and rest.\n")
    (folder / "latin1.txt").write_bytes(
        LETTER.read_text().replace("MRI", "IRM é").encode("latin-1")
    )
    (folder / "dangling.txt").symlink_to(folder / "missing.txt")
    expected = sorted(p.name for p in folder.iterdir())
    assert main(["anchors", str(folder)]) == EXIT_SOME_FAILED
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    assert sorted(Path(str(r["source"]["path"])).name for r in rows) == expected
    by_name = {Path(str(r["source"]["path"])).name: r for r in rows}
    assert by_name["good.txt"]["status"] == "ok"
    assert by_name["note.txt"]["status"] == "not_imr"
    assert by_name["latin1.txt"]["status"] == "ok"
    assert by_name["latin1.txt"]["warnings"]
    assert by_name["photo.txt"]["error"]["type"] == "BinaryInputError"
    assert by_name["empty.txt"]["error"]["type"] == "EmptyInputError"
    assert by_name["dangling.txt"]["status"] == "failed"
    bad = [r for r in rows if r["status"] in ("failed", "not_imr")]
    assert len(captured.err.strip().splitlines()) == len(bad)
    assert "Traceback" not in captured.err


def test_huge_file_is_refused_with_a_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "huge.txt"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    assert main(["anchors", str(big)]) == EXIT_SOME_FAILED
    captured = capsys.readouterr()
    assert _rows(captured.out)[0]["error"]["type"] == "InputTooLargeError"
    assert captured.err.count("\n") == 1


def test_output_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["anchors", str(LETTER), str(LETTER), "-o", str(out)]) == EXIT_OK
    assert len(_rows(out.read_text())) == 2


def test_bad_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["anchors", "--max-chars", "0", str(LETTER)]) == EXIT_USAGE
    assert "max-chars" in capsys.readouterr().err


def test_every_command_has_help() -> None:
    commands = ("anchors", "extract", "eval", "review", "report")
    commands += ("bulk", "summary", "export")
    for argv in (["--help"], *([command, "--help"] for command in commands)):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 0
    batch_steps = ("prepare", "submit", "status", "collect")
    for argv in (["batch", "--help"], *(["batch", step, "--help"] for step in batch_steps)):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 0


def test_console_script_reads_stdin() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "imr_llm", "anchors", "-"],
        input=LETTER.read_bytes(),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == EXIT_OK, proc.stderr
    assert _rows(proc.stdout.decode())[0]["record"]["case_number"] == "CM16-0213037"


def test_extract_against_an_endpoint_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = full_answer(
        [
            {
                "request": "MRI of the right shoulder without contrast",
                "decision": "upheld",
                "treatment": "MRI shoulder",
            },
            {
                "request": "MRI of the cervical spine without contrast",
                "decision": "upheld",
                "treatment": "MRI cervical spine",
            },
        ]
    )
    with FakeOpenAI([Reply(body=chat_completion(tool_args=answer))]) as fake:
        monkeypatch.setenv("IMR_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("IMR_LLM_MODEL", "fake-model")
        monkeypatch.setenv("IMR_LLM_CACHE_DIR", str(tmp_path))
        assert main(["extract", str(LETTER)]) == EXIT_OK
        assert main(["extract", str(LETTER)]) == EXIT_OK  # served from the cache
    rows = _rows(capsys.readouterr().out)
    assert fake.calls == 1
    assert [r["llm"]["cached"] for r in rows] == [False, True]
    assert rows[0]["llm"]["model"] == "fake-model"
    assert rows[0]["record"]["items"][1]["treatment"] == "MRI cervical spine"


def test_extract_without_any_endpoint_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("IMR_LLM_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "IMR_LLM_LOCAL_PYTHON"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("imr_llm.extraction.endpoint.local_available", lambda: False)
    assert main(["extract", "--no-cache", str(LETTER)]) == EXIT_USAGE
    assert "no LLM endpoint" in capsys.readouterr().err


class _StandInServer:
    """Stands in for the local llama.cpp server: the fake double plays the model."""

    def __init__(self, fake: FakeOpenAI) -> None:
        self.base_url, self.model = fake.base_url, "smollm2-135m"

    def __enter__(self) -> _StandInServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_local_model_is_the_default_and_announced(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("IMR_LLM_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAI([Reply(status=500)]) as fake:
        monkeypatch.setattr("imr_llm.extraction.endpoint.local_available", lambda: True)
        monkeypatch.setattr(
            "imr_llm.extraction.endpoint.LocalServer.from_env", lambda **_: _StandInServer(fake)
        )
        main(["extract", "--no-cache", "--max-reasks", "0", str(LETTER)])
    err = capsys.readouterr().err
    assert err.count("Qwen2.5-Coder-1.5B-Instruct") == 1
    assert fake.requests[0]["model"] == "smollm2-135m"
