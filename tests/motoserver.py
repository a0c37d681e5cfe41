"""moto's DynamoDB server as a real process, for the APIs DynamoDB Local lacks.

DynamoDB Local refuses point-in-time recovery and tagging; moto's server
(``python -m moto.server``) answers them. It runs as its own process on a
free port, is reached over HTTP like any endpoint, and is stopped by its PID.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sqlite2ddb.dynamodb.local import free_port

START_TIMEOUT_S = 30.0


@dataclass
class MotoServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start(module: list[str] | None = None, cwd: Path | None = None) -> MotoServer:
    """Start moto's server (``python -m moto.server``, or ``module``) on a free port; wait until it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *(module or ["-m", "moto.server"]), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    server = MotoServer(process, port)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with code {process.returncode} (is moto[server] installed?)")
        try:
            with urllib.request.urlopen(f"{server.url}/moto-api/", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"moto server did not answer on port {port} within {START_TIMEOUT_S:.0f} s")
