"""Checkpoint download: base-URL setting, resumable transfer, verification, lock.

A stand-in server (``ThreadingHTTPServer`` on 127.0.0.1, port 0, stopped after each test) serves
tiny non-official checkpoints; each test builds its own ``CheckpointInfo`` (carrying the tiny
architecture as ``config``) and registers nothing permanently.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import glide.checkpoints as ckpt
from glide.checkpoints import (
    BASE_URL_ENV,
    CHECKPOINTS,
    DEFAULT_BASE_URL,
    CheckpointInfo,
    DownloadPolicy,
    _download,
    checkpoint_url,
    resolve_checkpoint,
)
from glide.config import UNetConfig
from glide.errors import CheckpointError

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = DownloadPolicy(attempts=3, backoff_s=0.01, timeout_s=5.0, chunk_size=1 << 16)
TINY = UNetConfig(
    image_size=8,
    model_channels=32,
    num_res_blocks=1,
    channel_mult=(1,),
    attention_resolutions=(),
    num_head_channels=16,
    text_ctx=4,
    xf_width=32,
    xf_layers=1,
    xf_heads=2,
    n_vocab=16,
)
NAME, FILE = "tiny-download-test", "tiny_download_test.pt"


def _state_bytes(module: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.clone() for k, v in module.state_dict().items()}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def payloads() -> dict[str, bytes]:
    """Tiny checkpoints: a U-Net, one of another width, and the two halves of a small CLIP."""
    from glide.clip import build_clip
    from glide.text2im import build_model

    torch.manual_seed(0)
    clip = build_clip(_tiny_clip())
    return {
        "unet": _state_bytes(build_model(TINY)),
        "other": _state_bytes(build_model(TINY.replace(model_channels=64))),
        "clip-image": _state_bytes(clip.image_encoder),
        "clip-text": _state_bytes(clip.text_encoder),
    }


def _tiny_clip():
    from glide.clip import CLIP_SMALL

    return CLIP_SMALL.replace(
        image_size=16, n_vocab=64, max_text_len=8, n_xf_blocks_image=1, n_xf_blocks_text=1
    )


def _info(kind: str = "unet", *, url: str | None = None, sha256: str | None = None):
    config = TINY if kind == "unet" else _tiny_clip()
    preset = "base" if kind == "unet" else "clip"
    return CheckpointInfo(NAME, FILE, url, kind, preset, sha256=sha256, config=config)


# ----- the stand-in server ------------------------------------------------------------------


@dataclass
class Served:
    """What the server answers (by request index) and the requests it saw."""

    files: dict[str, bytes]
    honour_range: bool = True
    drop_after: dict[int, int] = field(default_factory=dict)  # request -> bytes, then close
    status: dict[int, int] = field(default_factory=dict)  # request -> HTTP error status
    truncate_to: int | None = None  # every answer stops after this many bytes
    delay_s: float = 0.0  # pause between 4 KiB writes
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # HTTP/1.0: one request per connection, closed after the answer

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            asked = self.headers.get("Range")
            with served.lock:
                index = len(served.requests)
                served.requests.append((self.path, asked))
            body = served.files.get(self.path)
            if index in served.status or body is None:
                self.send_error(served.status.get(index, 404))
                return
            start = 0
            if asked and served.honour_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            payload = body[start:]
            limit = served.drop_after.get(index, served.truncate_to)
            if limit is not None:
                payload = payload[:limit]
            for i in range(0, len(payload), 4096):
                self.wfile.write(payload[i : i + 4096])
                if served.delay_s:
                    time.sleep(served.delay_s)

    return Handler


@pytest.fixture()
def serve() -> Iterator[Callable[[Served], str]]:
    """Start a loopback server for a ``Served``; returns its base URL. All stop at teardown."""
    running = []

    def start(served: Served) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fast_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ckpt, "DOWNLOAD_POLICY", FAST)
    monkeypatch.delenv(BASE_URL_ENV, raising=False)


def _left(cache: Path) -> set[str]:
    """Files in the cache besides the lock file."""
    return {p.name for p in cache.iterdir()} - {FILE + ".lock"}


# ----- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["unet", "clip-image", "clip-text"])
def test_download_lands_the_served_bytes(
    kind: str, payloads, serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = payloads[kind]
    served = Served({"/" + FILE: body})
    monkeypatch.setenv(BASE_URL_ENV, serve(served))
    info = _info(kind, sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(CHECKPOINTS, NAME, info)
    resolved = resolve_checkpoint(NAME, cache_dir=tmp_path, progress=False)
    assert resolved.path == tmp_path / FILE and resolved.path.read_bytes() == body
    assert resolved.config == info.config and resolved.kind == kind
    assert served.requests == [("/" + FILE, None)]
    assert _left(tmp_path) == {FILE}
    # cached now: resolving again makes no request (download=True behaves as before)
    assert resolve_checkpoint(NAME, cache_dir=tmp_path, progress=False).path == resolved.path
    assert len(served.requests) == 1


def test_env_var_redirects_the_url(
    payloads, serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CHECKPOINTS["base"].url == DEFAULT_BASE_URL + "base.pt"
    served = Served({"/mirror/" + FILE: payloads["unet"]})
    base = serve(served) + "mirror"  # no trailing slash: one is added
    monkeypatch.setenv(BASE_URL_ENV, base)
    assert checkpoint_url(CHECKPOINTS["base"]) == base + "/base.pt"
    assert CHECKPOINTS["clip-text-enc"].url == base + "/clip_text_enc.pt"
    _download(_info(), tmp_path / FILE, False)
    assert served.requests == [("/mirror/" + FILE, None)]
    assert (tmp_path / FILE).read_bytes() == payloads["unet"]
    # a file the mirror lacks: the error names the URL and the setting, nothing is retried
    missing = CheckpointInfo("gone", "gone.pt", None, "unet", "base", config=TINY)
    with pytest.raises(CheckpointError) as err:
        _download(missing, tmp_path / "gone.pt", False)
    assert base + "/gone.pt" in str(err.value) and BASE_URL_ENV in str(err.value)
    assert "HTTP 404" in str(err.value) and len(served.requests) == 2
    assert not (tmp_path / "gone.pt").exists() and not (tmp_path / "gone.pt.part").exists()
    monkeypatch.setenv(BASE_URL_ENV, "ftp://example.org/glide/")
    with pytest.raises(CheckpointError, match=f"{BASE_URL_ENV}='ftp://example.org/glide/'"):
        checkpoint_url(CHECKPOINTS["base"])


@pytest.mark.parametrize("honour_range", [True, False], ids=["range", "no-range"])
def test_dropped_connection_is_resumed(honour_range: bool, payloads, serve, tmp_path: Path) -> None:
    body = payloads["unet"]
    cut = len(body) // 3
    served = Served({"/" + FILE: body}, honour_range=honour_range, drop_after={0: cut})
    _download(_info(url=serve(served) + FILE), tmp_path / FILE, False)
    assert (tmp_path / FILE).read_bytes() == body
    assert served.requests == [("/" + FILE, None), ("/" + FILE, f"bytes={cut}-")]
    assert _left(tmp_path) == {FILE}


def test_interrupted_part_is_kept_then_resumed(
    payloads, serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = payloads["unet"]
    cut = len(body) // 4
    served = Served({"/" + FILE: body}, drop_after={0: cut}, status={1: 503})
    info = _info(url=serve(served) + FILE)
    monkeypatch.setattr(ckpt, "DOWNLOAD_POLICY", DownloadPolicy(attempts=2, backoff_s=0.01))
    with pytest.raises(CheckpointError, match="kept in .*resumes there") as err:
        _download(info, tmp_path / FILE, False)
    assert info.url in str(err.value) and "HTTP 503" in str(err.value)
    assert _left(tmp_path) == {FILE + ".part"}
    assert (tmp_path / (FILE + ".part")).read_bytes() == body[:cut]
    # the next run (e.g. after the process was killed) resumes from the kept bytes
    _download(info, tmp_path / FILE, False)
    assert (tmp_path / FILE).read_bytes() == body
    assert served.requests[2] == ("/" + FILE, f"bytes={cut}-")
    assert _left(tmp_path) == {FILE}


def test_leftover_part_of_another_file_is_replaced(payloads, serve, tmp_path: Path) -> None:
    body = payloads["unet"]
    (tmp_path / (FILE + ".part")).write_bytes(payloads["other"][:1000])
    served = Served({"/" + FILE: body})
    _download(_info(url=serve(served) + FILE), tmp_path / FILE, False)
    assert (tmp_path / FILE).read_bytes() == body
    assert served.requests == [("/" + FILE, "bytes=1000-"), ("/" + FILE, None)]
    assert _left(tmp_path) == {FILE}


def test_complete_leftover_part_is_verified_and_renamed(payloads, serve, tmp_path: Path) -> None:
    """A process killed between download and rename left a whole .part: the server answers
    416 to the resume request, the bytes are verified and enter the cache."""
    body = payloads["unet"]
    (tmp_path / (FILE + ".part")).write_bytes(body)
    served = Served({"/" + FILE: body})
    _download(_info(url=serve(served) + FILE), tmp_path / FILE, False)
    assert (tmp_path / FILE).read_bytes() == body
    assert served.requests == [("/" + FILE, f"bytes={len(body)}-")]
    assert _left(tmp_path) == {FILE}


def test_truncated_download_is_refused(payloads, serve, tmp_path: Path) -> None:
    body = payloads["unet"]
    served = Served({"/" + FILE: body}, honour_range=False, truncate_to=len(body) - 100)
    url = serve(served) + FILE
    with pytest.raises(CheckpointError) as err:
        _download(_info(url=url), tmp_path / FILE, False)
    msg = str(err.value)
    assert FILE in msg and url in msg and "closed after" in msg and "run again" in msg
    assert len(served.requests) == FAST.attempts
    assert _left(tmp_path) == set()  # no final file, no .part


@pytest.mark.parametrize("corruption", ["other-architecture", "random-bytes", "sha256"])
def test_corrupted_download_is_refused(
    corruption: str, payloads, serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, sha, expected = payloads["unet"], None, "SHA-256"
    if corruption == "other-architecture":
        body, expected = payloads["other"], "mis-shaped key"
    elif corruption == "random-bytes":
        body, expected = os.urandom(len(body)), "cannot read checkpoint"
    else:
        sha = "0" * 64
    served = Served({"/" + FILE: body})
    monkeypatch.setenv(BASE_URL_ENV, serve(served))
    info = _info(sha256=sha)
    monkeypatch.setitem(CHECKPOINTS, NAME, info)
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint(NAME, cache_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert expected in msg and "corrupt" in msg and info.url in msg and BASE_URL_ENV in msg
    assert _left(tmp_path) == set()
    assert len(served.requests) == 1


def test_clip_half_of_another_size_is_refused(
    payloads, serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = Served({"/" + FILE: payloads["clip-text"]})  # the text half, not the image half
    monkeypatch.setenv(BASE_URL_ENV, serve(served))
    with pytest.raises(CheckpointError, match="missing key"):
        _download(_info("clip-image"), tmp_path / FILE, False)
    assert _left(tmp_path) == set()


_CHILD = """
import pickle, sys, time
from pathlib import Path
import filelock, tqdm.auto  # imported before the start signal
from glide.checkpoints import _download
info, dest, policy = pickle.loads(Path(sys.argv[1]).read_bytes())
Path(sys.argv[2]).touch()
go, deadline = Path(sys.argv[3]), time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("no start signal")
    time.sleep(0.005)
began = time.time()
_download(info, dest, False, policy)
print(began, time.time())
"""


def test_two_processes_end_with_one_good_file(payloads, serve, tmp_path: Path) -> None:
    body = payloads["unet"]
    served = Served({"/" + FILE: body}, delay_s=0.8 / (len(body) / 4096))  # ~0.8 s transfer
    cache = tmp_path / "cache"
    args = tmp_path / "args.pkl"
    args.write_bytes(pickle.dumps((_info(url=serve(served) + FILE), cache / FILE, FAST)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), *sys.path]))
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(args), str(r), str(go)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in ready
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(r.exists() for r in ready):
            assert time.monotonic() < deadline, "children did not start"
            assert all(c.poll() is None for c in children), [c.stderr.read() for c in children]
            time.sleep(0.01)
        go.touch()
        outputs = [c.communicate(timeout=60) for c in children]
        results = [
            (c.returncode, out, err) for c, (out, err) in zip(children, outputs, strict=True)
        ]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert [rc for rc, _, _ in results] == [0, 0], results
    (start_a, end_a), (start_b, end_b) = (map(float, out.split()) for _, out, _ in results)
    assert max(start_a, start_b) < min(end_a, end_b)  # they overlapped: one waited on the lock
    assert (cache / FILE).read_bytes() == body
    assert _left(cache) == {FILE}
    assert served.requests == [("/" + FILE, None)]  # the waiter took the finished file
