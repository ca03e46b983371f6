"""Start llama-cpp-python's OpenAI-compatible server on loopback (tests, benchmarks, local experiments).

    with LlamaServer(threads=2) as url:       # e.g. http://127.0.0.1:40123/v1
        LLMRuntime(LLMConfig(backend="openai", base_url=url))...

Needs the ``llama-cpp-python[server]`` extra. The server answers one request at a time.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from recgpt.llm.llama_cpp_backend import default_model_path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` as a child process; ``__enter__`` waits until it answers."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 1, n_ctx: int = 1024,
                 alias: str = "smollm2", port: int | None = None, start_timeout_s: float = 60.0):
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.threads, self.n_ctx, self.alias = threads, n_ctx, alias
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._process: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> str:
        self._log = tempfile.TemporaryFile("w+")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--host", "127.0.0.1",
             "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
             "--n_threads_batch", str(self.threads), "--model_alias", self.alias, "--verbose", "False"],
            stdout=self._log, stderr=subprocess.STDOUT,  # a file, not a pipe: a full pipe would block it
        )
        deadline = time.time() + self.start_timeout_s
        while True:
            try:
                urllib.request.urlopen(self.url + "/models", timeout=1).read()
                return self.url
            except OSError:
                if self._process.poll() is not None or time.time() > deadline:
                    self._log.seek(0)
                    tail = self._log.read()[-2000:]
                    self.__exit__()
                    raise RuntimeError(f"llama_cpp.server did not start on port {self.port}:\n{tail}")
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
