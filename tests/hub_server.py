"""A local stand-in for the Hugging Face Hub on 127.0.0.1, for the real huggingface_hub
client (selected with HF_ENDPOINT) and our downloader.

It answers the routes the app uses the way huggingface.co does: model search, model info
with LFS sizes and SHA-256, whoami, and file downloads that redirect to a "CDN" on a second
port (another origin, as on the Hub), which honours Range requests. Repositories can be
gated or private (401/403 with the Hub's X-Error-Code), a file can have bytes that do not
match its checksum, a repository can list a file named ``../escape.gguf``, and the CDN can
drop the connection part-way through a file.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

GRANTED_TOKEN = "hf_" + "Granted0" * 5  # signed in, licence of the gated model accepted
PLAIN_TOKEN = "hf_" + "PlainUsr" * 5  # signed in, licence not accepted
USERS = {GRANTED_TOKEN: "granted-user", PLAIN_TOKEN: "plain-user"}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HostedFile:
    name: str
    data: bytes | Path
    lfs: bool = True
    listed_sha256: str | None = None  # what the listing claims (default: the real one)

    def read(self, start: int, end: int) -> bytes:
        if isinstance(self.data, bytes):
            return self.data[start:end]
        with open(self.data, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    @property
    def size(self) -> int:
        return len(self.data) if isinstance(self.data, bytes) else self.data.stat().st_size

    def sha256(self) -> str:
        if self.listed_sha256:
            return self.listed_sha256
        digest = hashlib.sha256()
        if isinstance(self.data, bytes):
            digest.update(self.data)
        else:
            with open(self.data, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)
        self.listed_sha256 = digest.hexdigest()
        return self.listed_sha256

    def blob_id(self) -> str:
        content = self.read(0, self.size)
        return hashlib.sha1(f"blob {self.size}\0".encode() + content).hexdigest()


@dataclass
class HostedRepo:
    repo_id: str
    files: list[HostedFile]
    gated: str | bool = False  # False, "auto" or "manual"
    private: bool = False
    downloads: int = 0
    likes: int = 0
    last_modified: str = "2026-01-01T00:00:00.000Z"


@dataclass
class HubState:
    repos: dict[str, HostedRepo] = field(default_factory=dict)
    drop_after: int | None = None  # the CDN closes the connection after this many bytes…
    drops_left: int = 0  # …this many times
    throttle: float = 0.0  # seconds the CDN waits after each 256 KiB (a slow connection)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo: HostedRepo) -> HostedRepo:
        self.repos[repo.repo_id] = repo
        return repo


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def state(self) -> HubState:
        return self.server.state

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, *, head: bool) -> None:
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.state.lock:
            self.state.requests.append((self.server.role, self.path, headers))
        path = unquote(url.path)
        query = parse_qs(url.query)
        if self.server.role == "cdn":
            match = re.fullmatch(r"/cdn/(?P<repo>[^/]+/[^/]+)/(?P<name>.+)", path)
            if match:
                return self._file(match["repo"], match["name"], head=head)
            return self._json(404, {"error": "not found"})
        if path == "/api/whoami-v2":
            user = USERS.get(self._token() or "")
            if user is None:
                return self._json(401, {"error": "Invalid credentials in Authorization header"})
            return self._json(200, {"type": "user", "name": user, "fullname": user.title()})
        if path == "/api/models":
            return self._search(query)
        match = re.fullmatch(
            r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?", path
        )
        if match:
            return self._info(match["repo"])
        match = re.fullmatch(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<name>.+)", path)
        if match:
            return self._resolve(match["repo"], match["name"])
        return self._json(404, {"error": "not found"})

    # -- API -------------------------------------------------------------------------------

    def _token(self) -> str | None:
        value = self.headers.get("Authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None

    def _visible(self, repo_id: str) -> HostedRepo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None or (repo.private and self._token() != GRANTED_TOKEN):
            return None
        return repo

    def _search(self, query: dict[str, list[str]]) -> None:
        text = (query.get("search") or [""])[0].lower()
        sort = (query.get("sort") or ["downloads"])[0]
        limit = int((query.get("limit") or ["1000"])[0])
        found = [
            r for r in self.state.repos.values() if text in r.repo_id.lower() and not r.private
        ]
        key = {"likes": "likes", "lastModified": "last_modified", "last_modified": "last_modified"}
        found.sort(key=lambda r: getattr(r, key.get(sort, "downloads")), reverse=True)
        self._json(200, [self._summary(r) for r in found[:limit]])

    @staticmethod
    def _summary(repo: HostedRepo) -> dict[str, Any]:
        return {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "lastModified": repo.last_modified,
            "createdAt": repo.last_modified,
            "gated": repo.gated,
            "private": repo.private,
            "tags": ["gguf"],
            "library_name": "gguf",
        }

    def _info(self, repo_id: str) -> None:
        repo = self._visible(repo_id)
        if repo is None:
            return self._error(401, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
        siblings = []
        for f in repo.files:
            sibling: dict[str, Any] = {"rfilename": f.name, "size": f.size}
            if f.lfs:
                sibling["blobId"] = "f" * 40
                sibling["lfs"] = {"size": f.size, "sha256": f.sha256(), "pointerSize": 135}
            else:
                sibling["blobId"] = f.blob_id()
            siblings.append(sibling)
        self._json(200, {**self._summary(repo), "sha": COMMIT, "siblings": siblings})

    def _resolve(self, repo_id: str, name: str) -> None:
        repo = self._visible(repo_id)
        if repo is None:
            return self._error(401, "RepoNotFound", "Repository Not Found")
        if repo.gated and self._token() != GRANTED_TOKEN:
            status = 401 if self._token() is None else 403
            return self._error(
                status,
                "GatedRepo",
                f"Access to model {repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
            )
        hosted = next((f for f in repo.files if f.name == name), None)
        if hosted is None:
            return self._error(404, "EntryNotFound", f"{name} does not exist")
        self.send_response(302)
        self.send_header("Location", f"{self.server.cdn_url}/cdn/{repo_id}/{name}")
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("X-Linked-Size", str(hosted.size))
        self.send_header("X-Linked-Etag", f'"{hosted.sha256()}"')
        self.send_header("ETag", f'"{hosted.sha256()}"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- CDN -------------------------------------------------------------------------------

    def _file(self, repo_id: str, name: str, *, head: bool) -> None:
        repo = self.state.repos.get(repo_id)
        hosted = next((f for f in repo.files if f.name == name), None) if repo else None
        if hosted is None:
            return self._json(404, {"error": "not found"})
        size = hosted.size
        start, end = 0, size
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if ranged:
            start = int(ranged[1])
            end = min(int(ranged[2]) + 1, size) if ranged[2] else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{hosted.sha256()}"')
        self.end_headers()
        if head:
            return
        limit = end
        with self.state.lock:
            if self.state.drop_after is not None and self.state.drops_left > 0:
                self.state.drops_left -= 1
                limit = min(end, start + self.state.drop_after)
        position = start
        while position < limit:
            chunk = hosted.read(position, min(position + 256 * 1024, limit))
            try:
                self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return
            position += len(chunk)
            if self.state.throttle:
                time.sleep(self.state.throttle)
        if limit < end:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # mid-body: the client sees a dropped connection

    # -- replies ---------------------------------------------------------------------------

    def _json(self, status: int, value: Any, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, item in (extra or {}).items():
            self.send_header(key, item)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, role: str, state: HubState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.role = role
        self.state = state
        self.cdn_url = ""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@dataclass
class LocalHub:
    url: str
    state: HubState

    def requests_to(self, role: str) -> list[tuple[str, dict[str, str]]]:
        with self.state.lock:
            return [(path, headers) for r, path, headers in self.state.requests if r == role]


@contextmanager
def serve_hub(state: HubState) -> Iterator[LocalHub]:
    api, cdn = _Server("api", state), _Server("cdn", state)
    api.cdn_url = cdn.url
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (api, cdn)]
    for thread in threads:
        thread.start()
    try:
        yield LocalHub(api.url, state)
    finally:
        for server in (api, cdn):
            server.shutdown()
            server.server_close()
