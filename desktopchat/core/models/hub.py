"""The Hugging Face Hub: search, file listings, GGUF header reads and download streams.

The only module that imports huggingface_hub. Every call is an explicit user action (a
search, opening a repository, a download), runs off the GUI thread, declares its purpose
to the network audit (core/network.py), and gives up within ``TIMEOUT`` seconds when the
network is missing. The token is passed explicitly on each call, never read from or
written to huggingface_hub's own token file; no telemetry, no implicit login. Errors are
turned into DesktopChat's own, with messages that say what to do and never contain the
token. ``HF_ENDPOINT`` selects another Hub (the tests' local server).
"""

from __future__ import annotations

import os

# No telemetry, and no token picked up from huggingface_hub's own files or environment
# behind the user's back (we pass the keychain's token). Process-wide by nature:
# huggingface_hub reads these once, into its module constants, when it is first imported,
# and this module is its only importer, so they are set here, just before that import.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"

import contextlib
from collections.abc import Generator, Iterator
from typing import Any

import httpx2 as httpx  # huggingface_hub's HTTP client
import huggingface_hub
from huggingface_hub import HfApi, get_session, hf_raise_for_status
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from desktopchat.core.errors import (
    DesktopChatError,
    HubAccessError,
    HubError,
    HubNotFoundError,
    InvalidModelFileError,
    NetworkError,
    OfflineModeError,
)
from desktopchat.core.models.gguf import GGUFInfo, HeaderIncompleteError, parse_header
from desktopchat.core.models.remote import RemoteFile, RepoFiles, RepoSummary, safe_name
from desktopchat.core.network import activity

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT = 10.0  # seconds to connect, and between bytes
HEADER_FIRST_READ = 1024 * 1024
HEADER_MOST = 32 * 1024 * 1024  # a header larger than this is not read remotely
SORTS = {"downloads": "downloads", "likes": "likes", "recent": "lastModified"}  # the API's names
CHUNK = 1024 * 1024


def _client() -> Any:
    return httpx.Client(
        timeout=httpx.Timeout(TIMEOUT),
        follow_redirects=True,  # httpx drops Authorization when a redirect leaves the origin
        headers={"user-agent": "DesktopChat"},
    )


# Process-wide by nature: huggingface_hub keeps one HTTP client factory per process, and
# every call it makes (ours included) must have these bounded timeouts.
huggingface_hub.set_client_factory(_client)


class Hub:
    def __init__(
        self, *, token: str | None = None, endpoint: str | None = None, offline: bool = False
    ) -> None:
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        self._token = token or None
        self._auth: str | bool = self._token or False  # False: send no token, read none
        self._offline = offline
        self._api = HfApi(endpoint=self.endpoint, token=False, library_name="desktopchat")

    def page_url(self, repo_id: str) -> str:
        """The repository's page, where a gated model's licence is accepted."""
        return f"{self.endpoint}/{repo_id}"

    # -- calls ---------------------------------------------------------------------------

    def search(self, text: str, *, sort: str = "downloads", limit: int = 50) -> list[RepoSummary]:
        """GGUF repositories matching ``text``, by downloads, likes or most recent."""
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        # Our own request rather than HfApi.list_models, which retries for up to half a
        # minute: a search without network must fail within TIMEOUT.
        params: dict[str, Any] = {"filter": "gguf", "sort": SORTS[sort], "limit": limit}
        if text:
            params["search"] = text
        with self._call("search the Hub", ""):
            response = get_session().get(
                f"{self.endpoint}/api/models",
                params=params,
                headers=self._headers(),
            )
            hf_raise_for_status(response)
            found = [
                huggingface_hub.ModelInfo(**item)  # type: ignore[no-untyped-call]
                for item in response.json()
            ]
        return [
            RepoSummary(
                repo_id=m.id,
                downloads=m.downloads or 0,
                likes=m.likes or 0,
                last_modified=m.last_modified.isoformat() if m.last_modified else "",
                gated=bool(m.gated),
                private=bool(m.private),
            )
            for m in found[:limit]
        ]

    def files(self, repo_id: str, revision: str | None = None) -> RepoFiles:
        """Every file of the repository with its size and checksum; a listed name that
        would escape the models folder raises UnsafeFileNameError."""
        with self._call("list a repository's files", repo_id):
            info = self._api.model_info(
                repo_id,
                revision=revision,
                files_metadata=True,
                token=self._auth,
                timeout=TIMEOUT,
            )
        files = []
        for sibling in info.siblings or []:
            safe_name(sibling.rfilename)
            lfs = sibling.lfs
            files.append(
                RemoteFile(
                    name=sibling.rfilename,
                    size=int(lfs.size if lfs is not None else sibling.size or 0),
                    sha256=lfs.sha256 if lfs is not None else None,
                    blob_id=None if lfs is not None else sibling.blob_id,
                )
            )
        return RepoFiles(
            repo_id=info.id,
            revision=info.sha or revision or "main",
            gated=bool(info.gated),
            private=bool(info.private),
            files=tuple(files),
        )

    def whoami(self) -> str:
        """The account the token belongs to."""
        if not self._token:
            raise HubAccessError("No Hugging Face token is set.")
        with self._call("check the Hugging Face token", ""):
            return str(self._api.whoami(token=self._token).get("name", ""))

    def read_header(self, repo_id: str, revision: str, file: RemoteFile) -> GGUFInfo:
        """A remote GGUF's header, read with Range requests (not the whole file)."""
        want = min(HEADER_FIRST_READ, file.size)
        while True:
            data = self.read_range(repo_id, revision, file.name, 0, want)
            try:
                return parse_header(data, file.size, file.name)
            except HeaderIncompleteError as more:
                if more.needed > HEADER_MOST or len(data) >= file.size or more.needed <= want:
                    raise InvalidModelFileError(
                        f"The header of {file.name} is larger than DesktopChat reads remotely."
                    ) from None
                want = min(max(more.needed, want * 2), HEADER_MOST, file.size)

    def read_range(self, repo_id: str, revision: str, name: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of a file."""
        chunks = []
        stream = self.open_stream(repo_id, revision, name, start, end)
        with contextlib.closing(stream):
            for chunk in stream:
                chunks.append(chunk)
        return b"".join(chunks)[: end - start]

    def open_stream(
        self, repo_id: str, revision: str, name: str, start: int, end: int | None = None
    ) -> Generator[bytes, None, None]:
        """The file's bytes from ``start`` (to ``end``), as they arrive (the downloader's
        source). Close the iterator to drop the connection."""
        url = huggingface_hub.hf_hub_url(
            repo_id, str(safe_name(name)), revision=revision, endpoint=self.endpoint
        )
        headers = self._headers()
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with (
            self._call("download a model", repo_id),
            get_session().stream("GET", url, headers=headers) as response,
        ):
            hf_raise_for_status(response)
            skip = start if start and response.status_code == 200 else 0  # Range ignored
            for received in response.iter_bytes(CHUNK):
                chunk = received[skip:]
                skip = max(skip - len(received), 0)
                if chunk:
                    yield chunk

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = build_hf_headers(token=self._auth, library_name="desktopchat")
        return headers

    # -- errors --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _call(self, purpose: str, repo_id: str) -> Iterator[None]:
        if self._offline:
            raise OfflineModeError(
                "Offline mode is on, so DesktopChat does not connect to the Hugging Face Hub. "
                "Turn it off in the model manager to search or download."
            )
        try:
            with activity.purpose(f"model manager: {purpose}"):
                yield
        except DesktopChatError:
            raise
        except GatedRepoError:
            raise HubAccessError(
                f"{repo_id} is a gated model: accept its licence on its Hugging Face page "
                f"({self.page_url(repo_id)}), then set a Hugging Face token for the account "
                "that accepted it."
                + (" The token that is set has not been granted access." if self._token else ""),
                self.page_url(repo_id),
                gated=True,
            ) from None
        except (RevisionNotFoundError, EntryNotFoundError):
            raise HubNotFoundError(
                f"{repo_id} has no such file or revision on the Hub (it may have been renamed "
                "or removed)."
            ) from None
        except RepositoryNotFoundError:
            if self._token:
                raise HubNotFoundError(
                    f"{repo_id} was not found on the Hub, or the token that is set may not "
                    "read it (a private repository)."
                ) from None
            raise HubAccessError(
                f"{repo_id} was not found on the Hub. If it is private, set a Hugging Face "
                "token that may read it.",
                self.page_url(repo_id),
            ) from None
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise HubAccessError(
                    "The Hugging Face Hub refused the request (HTTP "
                    f"{status}): the token is missing, invalid or lacks permission.",
                    self.page_url(repo_id) if repo_id else "",
                ) from None
            raise HubError(
                f"The Hugging Face Hub answered with an error (HTTP {status})."
            ) from None
        except httpx.TimeoutException:
            raise NetworkError(
                f"The Hugging Face Hub did not answer within {TIMEOUT:.0f} seconds. Check the "
                "internet connection and try again."
            ) from None
        except httpx.TransportError as exc:
            raise NetworkError(
                "Could not reach the Hugging Face Hub, or the connection dropped "
                f"({type(exc).__name__}). Check the internet connection and try again."
            ) from None
