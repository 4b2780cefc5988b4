"""The model manager against a local Hub: the real huggingface_hub client and our
downloader, on 127.0.0.1, serving the real starter model with the Hub's headers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from desktopchat.core import network
from desktopchat.core.errors import (
    ChecksumMismatchError,
    DownloadStoppedError,
    HubAccessError,
    NetworkError,
    NotEnoughDiskError,
    OfflineModeError,
)
from desktopchat.core.models import downloads
from desktopchat.core.models import hub as hub_module
from desktopchat.core.models.downloads import Downloader, Progress, installed_path
from desktopchat.core.models.fit import estimate
from desktopchat.core.models.gguf import read_gguf
from desktopchat.core.models.hub import Hub
from desktopchat.core.models.library import ModelLibrary
from desktopchat.core.models.manager import remove_model
from desktopchat.core.models.remote import UnsafeFileNameError
from desktopchat.core.session import Core
from tests.hub_server import (
    GRANTED_TOKEN,
    PLAIN_TOKEN,
    HostedFile,
    HostedRepo,
    HubState,
    LocalHub,
    serve_hub,
)

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

STARTER = "test/SmolLM2-135M-Instruct-GGUF"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HANG_GUARD_S = 90  # a generous bound: the client's own timeout is 10 s
SPLIT = [f"split/tiny-Q8_0-0000{i}-of-00002.gguf" for i in (1, 2)]


@pytest.fixture
def local_hub(starter_model: Path) -> Iterator[LocalHub]:
    state = HubState()
    state.add(
        HostedRepo(
            STARTER,
            [
                HostedFile(STARTER_FILE, starter_model),
                HostedFile("README.md", b"# SmolLM2 GGUF\n", lfs=False),
                HostedFile(SPLIT[0], os.urandom(300_000)),
                HostedFile(SPLIT[1], os.urandom(200_000)),
            ],
            downloads=500,
            likes=3,
            last_modified="2025-01-01T00:00:00.000Z",
        )
    )
    state.add(HostedRepo("test/Popular-GGUF", [], downloads=900, likes=1))
    state.add(HostedRepo("test/Liked-GGUF", [], downloads=10, likes=99))
    state.add(
        HostedRepo("test/Recent-GGUF", [], downloads=1, last_modified="2026-11-01T00:00:00.000Z")
    )
    state.add(HostedRepo("test/Gated-GGUF", [HostedFile("gated-Q4_0.gguf", b"G" * 5000)], "manual"))
    state.add(
        HostedRepo("test/Private-GGUF", [HostedFile("p-Q4_0.gguf", b"P" * 100)], private=True)
    )
    state.add(
        HostedRepo(
            "test/Broken-GGUF",
            [HostedFile("broken-Q4_0.gguf", b"B" * 70_000, listed_sha256="0" * 64)],
        )
    )
    state.add(HostedRepo("test/Evil-GGUF", [HostedFile("../escape.gguf", b"E" * 10)]))
    with serve_hub(state) as served:
        yield served


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "cache" / "downloads", tmp_path / "models"


def downloader(hub: Hub, folders: tuple[Path, Path]) -> Downloader:
    return Downloader(*folders, hub.open_stream, retry_delay=0.05)


def fetch(
    hub: Hub,
    folders: tuple[Path, Path],
    repo_id: str,
    name: str,
    stop: threading.Event | None = None,
) -> tuple[Path, list[Progress]]:
    listing = hub.files(repo_id)
    seen: list[Progress] = []
    path = downloader(hub, folders).download(
        repo_id, listing.revision, listing.find(name), seen.append, stop or threading.Event()
    )
    return path, seen


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_search_filters_and_sorts(local_hub: LocalHub) -> None:
    hub = Hub(endpoint=local_hub.url)
    assert [r.repo_id for r in hub.search("GGUF", sort="downloads")][:2] == [
        "test/Popular-GGUF",
        STARTER,
    ]
    assert hub.search("gguf", sort="likes")[0].repo_id == "test/Liked-GGUF"
    assert hub.search("", sort="recent")[0].repo_id == "test/Recent-GGUF"
    assert [r.repo_id for r in hub.search("smollm2")] == [STARTER]
    assert "test/Private-GGUF" not in [r.repo_id for r in hub.search("")]


def test_hf_endpoint_selects_the_hub(local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", local_hub.url)
    assert Hub().endpoint == local_hub.url
    assert Hub().search("smollm2")[0].repo_id == STARTER


def test_a_listing_shows_every_gguf_with_sizes_and_split_files_grouped(
    local_hub: LocalHub, starter_model: Path
) -> None:
    listing = Hub(endpoint=local_hub.url).files(STARTER)
    models = listing.models()
    assert [m.label for m in models] == ["split/tiny-Q8_0.gguf (2 parts)", STARTER_FILE]
    split, starter = models
    assert split.size == 500_000 and split.complete and split.quantization == "Q8_0"
    assert [p.name for p in split.parts] == SPLIT
    assert starter.size == starter_model.stat().st_size and starter.quantization == "Q4_1"
    assert starter.parts[0].sha256 == sha256(starter_model)
    readme = next(f for f in listing.files if f.name == "README.md")
    assert readme.sha256 is None and readme.blob_id  # a small non-LFS file: git's blob id


def test_the_header_of_a_remote_file_is_read_with_range_requests(
    local_hub: LocalHub, starter_model: Path
) -> None:
    hub = Hub(endpoint=local_hub.url)
    listing = hub.files(STARTER)
    info = hub.read_header(STARTER, listing.revision, listing.find(STARTER_FILE).parts[0])
    local = read_gguf(starter_model)
    assert info.architecture == local.architecture == "llama"
    assert estimate(info, 4096) == estimate(local, 4096)
    ranges = [h.get("range") for _path, h in local_hub.requests_to("cdn")]
    assert ranges and all(r and r.startswith("bytes=0-") for r in ranges)
    assert all(int(r.split("-")[1]) < 16 * 1024 * 1024 for r in ranges if r)


def test_a_download_is_verified_and_moved_into_place(
    local_hub: LocalHub, folders: tuple[Path, Path], starter_model: Path
) -> None:
    hub = Hub(endpoint=local_hub.url)
    path, seen = fetch(hub, folders, STARTER, STARTER_FILE)
    assert path == folders[1] / "test" / "SmolLM2-135M-Instruct-GGUF" / STARTER_FILE
    assert sha256(path) == sha256(starter_model)
    assert seen[-1].done == seen[-1].total == starter_model.stat().st_size
    assert not list(folders[0].iterdir()), "no partial files left"
    assert read_gguf(path).architecture == "llama"


def test_a_split_model_downloads_as_one_item(
    local_hub: LocalHub, folders: tuple[Path, Path], core: Core
) -> None:
    hub = Hub(endpoint=local_hub.url)
    path, seen = fetch(hub, folders, STARTER, "split/tiny-Q8_0.gguf (2 parts)")
    assert path.name == "tiny-Q8_0-00001-of-00002.gguf"
    assert sorted(p.name for p in path.parent.iterdir()) == [Path(n).name for n in SPLIT]
    assert {p.total for p in seen} == {500_000}
    library = ModelLibrary(folders[1], core.model_records, None)
    assert [m.path.name for m in library.scan()] == [path.name], "one entry per split model"
    (model,) = library.scan()
    removed = remove_model(model, folders[1], core.model_records)
    assert removed.freed == 500_000 and not path.parent.exists(), "every part, and the folder"


def test_a_dropped_connection_is_resumed_with_a_range_request(
    local_hub: LocalHub, folders: tuple[Path, Path], starter_model: Path
) -> None:
    local_hub.state.drop_after, local_hub.state.drops_left = 5_000_000, 2
    path, _ = fetch(Hub(endpoint=local_hub.url), folders, STARTER, STARTER_FILE)
    assert sha256(path) == sha256(starter_model)
    ranges = [h.get("range") for _p, h in local_hub.requests_to("cdn")]
    assert len(ranges) == 3 and ranges[0] is None, "two reconnections, not two restarts"
    offsets = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:] if r]
    assert 0 < offsets[0] <= 5_000_000 < offsets[1] <= 10_000_000


def test_a_paused_download_continues_where_it_stopped(
    local_hub: LocalHub, folders: tuple[Path, Path], starter_model: Path
) -> None:
    hub = Hub(endpoint=local_hub.url)
    stop = threading.Event()
    listing = hub.files(STARTER)
    model = listing.find(STARTER_FILE)

    def pause_early(progress: Progress) -> None:
        if progress.done > 20_000_000:
            stop.set()

    loader = downloader(hub, folders)
    # Progress is reported every 0.2 s: unthrottled, loopback can deliver all 98 MB between
    # two reports (CI saw it), and the pause comes too late. 5 ms per 256 KiB: about 2 s.
    local_hub.state.throttle = 0.005
    with pytest.raises(DownloadStoppedError):
        loader.download(STARTER, listing.revision, model, pause_early, stop)
    local_hub.state.throttle = 0.0
    (pending,) = loader.pending()
    assert pending.repo_id == STARTER and pending.name == STARTER_FILE
    assert 20_000_000 < pending.done < pending.size
    assert not installed_path(folders[1], STARTER, model).exists(), "nothing half-written"
    # Another run (as after a restart): a new Downloader continues from the partial file.
    path = downloader(hub, folders).download(
        STARTER, listing.revision, model, lambda _p: None, threading.Event()
    )
    assert sha256(path) == sha256(starter_model)
    assert local_hub.requests_to("cdn")[-1][1].get("range") == f"bytes={pending.done}-"


def test_bytes_that_do_not_match_the_checksum_are_deleted(
    local_hub: LocalHub, folders: tuple[Path, Path]
) -> None:
    with pytest.raises(ChecksumMismatchError, match="do not match the checksum"):
        fetch(Hub(endpoint=local_hub.url), folders, "test/Broken-GGUF", "broken-Q4_0.gguf")
    assert not folders[1].exists() or not list(folders[1].rglob("*.gguf"))
    assert not list(folders[0].iterdir())


def test_gated_models_need_an_accepted_licence_and_a_token(
    local_hub: LocalHub, folders: tuple[Path, Path]
) -> None:
    listing = Hub(endpoint=local_hub.url).files("test/Gated-GGUF")
    assert listing.gated
    with pytest.raises(HubAccessError, match="accept its licence") as anonymous:
        fetch(Hub(endpoint=local_hub.url), folders, "test/Gated-GGUF", "gated-Q4_0.gguf")
    assert anonymous.value.gated and anonymous.value.page_url == f"{local_hub.url}/test/Gated-GGUF"
    with pytest.raises(HubAccessError, match="has not been granted") as refused:
        fetch(
            Hub(endpoint=local_hub.url, token=PLAIN_TOKEN),
            folders,
            "test/Gated-GGUF",
            "gated-Q4_0.gguf",
        )
    assert PLAIN_TOKEN not in str(refused.value)
    path, _ = fetch(
        Hub(endpoint=local_hub.url, token=GRANTED_TOKEN),
        folders,
        "test/Gated-GGUF",
        "gated-Q4_0.gguf",
    )
    assert path.read_bytes() == b"G" * 5000
    api = [h for _p, h in local_hub.requests_to("api") if "resolve" in _p]
    assert api[-1].get("authorization") == f"Bearer {GRANTED_TOKEN}"
    cdn = [h for _p, h in local_hub.requests_to("cdn")]
    assert all("authorization" not in h for h in cdn), "the token never leaves the Hub's origin"


def test_private_repositories_and_the_token_check(local_hub: LocalHub) -> None:
    with pytest.raises(HubAccessError, match="If it is private"):
        Hub(endpoint=local_hub.url).files("test/Private-GGUF")
    assert Hub(endpoint=local_hub.url, token=GRANTED_TOKEN).files("test/Private-GGUF").private
    assert Hub(endpoint=local_hub.url, token=GRANTED_TOKEN).whoami() == "granted-user"
    with pytest.raises(HubAccessError) as bad:
        Hub(endpoint=local_hub.url, token="hf_" + "x" * 34).whoami()
    assert "hf_xxx" not in str(bad.value)


def test_a_listed_name_that_escapes_the_models_folder_is_refused(local_hub: LocalHub) -> None:
    with pytest.raises(UnsafeFileNameError, match="refused"):
        Hub(endpoint=local_hub.url).files("test/Evil-GGUF")


def test_offline_mode_connects_to_nothing(local_hub: LocalHub) -> None:
    network.install()
    before = len(network.activity.connections())
    hub = Hub(endpoint=local_hub.url, offline=True)
    with pytest.raises(OfflineModeError, match="Offline mode is on"):
        hub.search("smollm2")
    with pytest.raises(OfflineModeError):
        hub.files(STARTER)
    assert len(network.activity.connections()) == before
    assert not local_hub.requests_to("api")


def test_every_connection_is_declared(local_hub: LocalHub) -> None:
    network.install()
    before = len(network.activity.connections())
    Hub(endpoint=local_hub.url).search("smollm2")
    made = network.activity.connections()[before:]
    assert made and all(c.purpose == "model manager: search the Hub" for c in made)


def search_in_a_thread(hub: Hub) -> BaseException | None:
    """``hub.search`` on a thread, with a generous hang guard; the error it raised."""
    raised: list[BaseException] = []

    def search() -> None:
        try:
            hub.search("x")
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    thread = threading.Thread(target=search, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), f"the search still hangs after {HANG_GUARD_S} s"
    return raised[0] if raised else None


def test_the_hub_client_has_bounded_timeouts() -> None:
    """The client huggingface_hub makes every request with (ours and its own) gives up
    after TIMEOUT seconds to connect, and between bytes."""
    import huggingface_hub  # here: hub.py (imported above) configures it before its import

    timeout = huggingface_hub.get_session().timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (hub_module.TIMEOUT,) * 4
    assert hub_module.TIMEOUT == 10.0


def test_no_server_fails_fast_with_a_clear_message() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    network.install()
    before = len(network.activity.connections())
    error = search_in_a_thread(Hub(endpoint=f"http://127.0.0.1:{port}"))
    assert isinstance(error, NetworkError), error
    assert "Could not reach the Hugging Face Hub" in str(error)
    # One attempt, not huggingface_hub's retry loop (about 23 s without a network).
    attempts = [c for c in network.activity.connections()[before:] if c.port == port]
    assert len(attempts) == 1, attempts


def test_a_server_that_never_answers_times_out_within_ten_seconds() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts connections; nobody ever answers
        error = search_in_a_thread(Hub(endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}"))
        assert isinstance(error, NetworkError), error
        assert "did not answer within 10 seconds" in str(error)
        silent.setblocking(False)
        connections = []
        with contextlib.suppress(BlockingIOError):
            while True:
                connections.append(silent.accept()[0])
        for connection in connections:
            connection.close()
        assert len(connections) == 1, "the request was made once, not retried"


def test_not_enough_disk_is_said_before_starting(
    local_hub: LocalHub, folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage

    def nearly_full(path: str | os.PathLike[str]) -> object:
        usage = real(path)
        return type(usage)(usage.total, usage.total - 1_000_000, 1_000_000)

    monkeypatch.setattr(downloads, "shutil", SimpleNamespace(disk_usage=nearly_full))
    with pytest.raises(NotEnoughDiskError, match="Not enough disk space"):
        fetch(Hub(endpoint=local_hub.url), folders, STARTER, STARTER_FILE)
    assert not local_hub.requests_to("cdn"), "nothing was downloaded"
