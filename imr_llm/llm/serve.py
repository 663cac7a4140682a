"""Serve one GGUF model with xllamacpp (llama.cpp's own server) until told to stop.

Run as a script by :class:`imr_llm.llm.local.LocalServer`, in a child process: the server is
native code, so a crash or a hang there costs the child, never the caller, and the caller can
always stop it. Needs only the standard library and xllamacpp, so it also runs in another
interpreter (``IMR_LLM_LOCAL_PYTHON``) that does not have imr-llm installed.

    python serve.py --model PATH --port N [--ctx 16384] [--parallel 2] [--threads N]

It prints one line, ``ready http://127.0.0.1:N``, once the model is loaded, and stops when
its standard input closes or it receives SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any


def _params(args: argparse.Namespace) -> Any:
    import xllamacpp  # type: ignore[import-untyped]

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = args.parallel
    # One KV cache for all slots: a long letter may use what an idle slot does not. Slots
    # keep different prompts cached (llama.cpp routes a request to the slot whose cached
    # prompt it shares most with), so the item calls' long system prompt survives the
    # diagnoses call between letters.
    params.kv_unified = True
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.verbosity = 0
    return params


def _wait_for_eof(stop: threading.Event) -> None:
    sys.stdin.read()
    stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", default="local")
    parser.add_argument("--ctx", type=int, default=16384)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    import xllamacpp

    server = xllamacpp.Server(_params(args))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"ready {server.listening_address}", flush=True)
    # The parent holds our stdin open for as long as it wants the server: EOF means stop.
    threading.Thread(target=_wait_for_eof, args=(stop,), daemon=True).start()
    stop.wait()
    # Deleting the server can hang in its native loop; this process exists only to serve,
    # so it ends at once and the OS frees everything.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
