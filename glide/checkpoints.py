"""Checkpoint registry, download cache, strict loading and saving.

The six official GLIDE (filtered) checkpoints are registered under the names ``base``,
``upsample``, ``base-inpaint``, ``upsample-inpaint``, ``clip-image-enc`` and ``clip-text-enc``.
A name is resolved to a file:

1. in ``checkpoints_dir`` when one is given (the official file name, e.g. ``base_inpaint.pt``);
2. else in the cache directory (``$GLIDE_CACHE_DIR`` or ``~/.cache/glide-bench``), downloading
   it there first when a network exists.

Downloads come from ``$GLIDE_CHECKPOINT_BASE_URL`` + file name (default: OpenAI's
``https://openaipublic.blob.core.windows.net/diffusion/dec-2021/``; a mirror or a
``file://`` folder works too), read at download time. Bytes go to ``<file>.part`` beside the
final name; a dropped connection (short read, reset, timeout, HTTP 5xx) is retried a few times
with a short backoff (:class:`DownloadPolicy`), resuming with ``Range: bytes=N-`` (a server that
answers 200 instead of 206 restarts from zero), and a ``.part`` left by a killed process is
resumed the same way. Before the file enters the cache it must have the announced size, load as
a state dict, match the registered architecture key by key and shape by shape, and match the
SHA-256 when one is known; only then is ``.part`` renamed onto the final name. A file failing
verification is deleted and refused with a :class:`~glide.errors.CheckpointError`. A file lock
(``<file>.lock``) is held across download, verification and rename, so concurrent processes end
with one good file.

A path to a ``.pt`` file always works. The architecture comes from, in order: the ``options``
argument; ``glide_options.json`` in the checkpoints directory (``{"<name>": options dict or
CLIP config_yaml dict}``, for non-official sizes); the registered architecture of the name.

Loading is strict: a file whose keys or shapes differ from the architecture is refused with a
:class:`~glide.errors.CheckpointError` listing the missing, unexpected and mis-shaped keys.
This is the package's only disk/network I/O besides the tokenizer vocabularies.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from glide.config import CLIPConfig, UNetConfig
from glide.errors import CheckpointError, GlideError
from glide.io import atomic_write, sha256_file

__all__ = [
    "BASE_URL_ENV",
    "CHECKPOINTS",
    "DEFAULT_BASE_URL",
    "DOWNLOAD_POLICY",
    "OPTIONS_FILE",
    "CheckpointInfo",
    "DownloadPolicy",
    "ResolvedCheckpoint",
    "check_state_dict",
    "checkpoint_base_url",
    "checkpoint_url",
    "default_cache_dir",
    "load_checkpoint",
    "load_clip",
    "load_state_dict_file",
    "read_options_file",
    "register_checkpoint",
    "resolve_checkpoint",
    "save_checkpoint",
    "write_options_file",
]

OPTIONS_FILE = "glide_options.json"
BASE_URL_ENV = "GLIDE_CHECKPOINT_BASE_URL"
DEFAULT_BASE_URL = "https://openaipublic.blob.core.windows.net/diffusion/dec-2021/"
_KINDS = ("unet", "clip-image", "clip-text")


@dataclass(frozen=True)
class CheckpointInfo:
    """A registered checkpoint. ``kind`` is "unet", "clip-image" or "clip-text"; ``preset``
    names the official architecture (a UNetConfig or CLIPConfig preset).

    ``fixed_url`` pins the download location; None (the official files) means
    ``$GLIDE_CHECKPOINT_BASE_URL`` + ``filename``, read when the URL is needed (see
    :attr:`url`). ``config``, when given, is the architecture a download must match instead of
    ``preset`` (for non-official sizes).
    """

    name: str
    filename: str
    fixed_url: str | None
    kind: str
    preset: str
    sha256: str | None = None  # OpenAI published no checksums for these files
    config: UNetConfig | CLIPConfig | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise GlideError(
                f"kind={self.kind!r} is invalid: use 'unet', 'clip-image' or 'clip-text'"
            )
        wanted = UNetConfig if self.kind == "unet" else CLIPConfig
        if self.config is not None and not isinstance(self.config, wanted):
            raise GlideError(
                f"config={type(self.config).__name__} does not fit kind={self.kind!r}: "
                f"pass a {wanted.__name__} or None"
            )

    @property
    def url(self) -> str:
        """Where this file is downloaded from now (:func:`checkpoint_url`)."""
        return checkpoint_url(self)


def checkpoint_base_url() -> str:
    """``$GLIDE_CHECKPOINT_BASE_URL`` (with a trailing ``/``), else :data:`DEFAULT_BASE_URL`."""
    value = os.environ.get(BASE_URL_ENV, "").strip()
    if not value:
        return DEFAULT_BASE_URL
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.path):
        raise CheckpointError(
            f"{BASE_URL_ENV}={value!r} is invalid: expected an http://, https:// or file:// URL "
            f"of a folder holding the checkpoint files (default {DEFAULT_BASE_URL}); fix or "
            "unset it"
        )
    return value if value.endswith("/") else value + "/"


def checkpoint_url(info: CheckpointInfo) -> str:
    """The download URL of ``info``: its ``fixed_url``, else base URL + file name."""
    return info.fixed_url or checkpoint_base_url() + info.filename


CHECKPOINTS: dict[str, CheckpointInfo] = {}


def register_checkpoint(info: CheckpointInfo) -> CheckpointInfo:
    """Add a checkpoint to the registry; refuses a name that is already taken."""
    if info.name in CHECKPOINTS:
        raise GlideError(f"checkpoint name {info.name!r} is already registered; pick another")
    CHECKPOINTS[info.name] = info
    return info


for _name, _file, _kind, _preset in (
    ("base", "base.pt", "unet", "base"),
    ("upsample", "upsample.pt", "unet", "upsample"),
    ("base-inpaint", "base_inpaint.pt", "unet", "base-inpaint"),
    ("upsample-inpaint", "upsample_inpaint.pt", "unet", "upsample-inpaint"),
    ("clip-image-enc", "clip_image_enc.pt", "clip-image", "clip"),
    ("clip-text-enc", "clip_text_enc.pt", "clip-text", "clip"),
):
    register_checkpoint(CheckpointInfo(_name, _file, None, _kind, _preset))

# the reference's own names for the CLIP files
_ALIASES = {"clip/image-enc": "clip-image-enc", "clip/text-enc": "clip-text-enc"}


# ----- files, hashing, options -------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$GLIDE_CACHE_DIR``, else ``~/.cache/glide-bench``."""
    env = os.environ.get("GLIDE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "glide-bench"


def read_options_file(checkpoints_dir: str | Path) -> dict[str, dict[str, Any]]:
    """The ``glide_options.json`` of a checkpoints directory ({} when absent)."""
    path = Path(checkpoints_dir) / OPTIONS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); fix or delete it") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CheckpointError(
            f"{path} must be a JSON object mapping checkpoint names to options/config dicts"
        )
    return data


def write_options_file(
    checkpoints_dir: str | Path, entries: Mapping[str, UNetConfig | CLIPConfig | Mapping]
) -> Path:
    """Merge ``entries`` into the directory's ``glide_options.json`` (atomic write)."""
    folder = Path(checkpoints_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = read_options_file(folder)
    for name, value in entries.items():
        if isinstance(value, UNetConfig):
            value = value.to_options()
        elif isinstance(value, CLIPConfig):
            value = value.to_yaml_dict()
        data[name] = dict(value)
    path = folder / OPTIONS_FILE
    atomic_write(path, lambda fh: fh.write(json.dumps(data, indent=1, sort_keys=True).encode()))
    return path


# ----- download -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard a download tries. It gives up after ``attempts`` failed requests in a row that
    did not extend the ``.part`` file, waiting ``backoff_s``, ``2 * backoff_s``, ... between
    them; ``timeout_s`` bounds connecting and each read; ``chunk_size`` is the read size."""

    attempts: int = 5
    backoff_s: float = 0.5
    timeout_s: float = 60.0
    chunk_size: int = 1 << 20

    def __post_init__(self) -> None:
        for name, minimum in (("attempts", 1), ("chunk_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise GlideError(f"DownloadPolicy {name}={value!r} is invalid: use an int >= 1")
        for name in ("backoff_s", "timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise GlideError(
                    f"DownloadPolicy {name}={value!r} is invalid: use a number of seconds >= 0"
                )


DOWNLOAD_POLICY = DownloadPolicy()  # read at each download (tests swap it for a faster one)

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class _Dropped(Exception):
    """A transient failure; the request may be retried, resuming from the ``.part``."""


class _Refused(Exception):
    """A permanent failure (e.g. HTTP 404); retrying cannot help."""


@dataclass
class _Transfer:
    """Mutable state of one download across its requests."""

    url: str
    part: Path
    policy: DownloadPolicy
    bar: Any  # tqdm
    total: int | None = None
    ignores_ranges: bool = False  # the server answered a Range request with the whole file


def _open(transfer: _Transfer, offset: int) -> Any:
    """Send the request (with ``Range`` when resuming); None when the .part is already whole."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    request = urllib.request.Request(transfer.url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=transfer.policy.timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left after byte `offset`, or a bad range
            match = _UNSATISFIED_RANGE.search(err.headers.get("Content-Range") or "")
            if match and int(match.group(1)) == offset:
                transfer.total = offset
                return None
            transfer.part.unlink(missing_ok=True)
            raise _Dropped(f"the server cannot resume at byte {offset} (HTTP 416)") from None
        if err.code in (408, 425, 429) or err.code >= 500:
            raise _Dropped(f"HTTP {err.code} {err.reason}") from None
        raise _Refused(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise _Refused(str(err.reason)) from None
        raise _Dropped(str(err.reason)) from None
    except (OSError, http.client.HTTPException) as err:
        raise _Dropped(f"{type(err).__name__}: {err}") from None


def _fetch_once(transfer: _Transfer) -> None:
    """One request: append (206) or rewrite (200) the .part; raise _Dropped when cut short."""
    part = transfer.part
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(transfer, offset)
    if response is None:
        return
    with response:
        status = response.status or 200  # file:// answers have no status
        if status == 206:
            header = response.headers.get("Content-Range") or ""
            match = _CONTENT_RANGE.match(header)
            total = None if not match or match.group(3) == "*" else int(match.group(3))
            if (
                not match
                or int(match.group(1)) != offset
                or (transfer.total is not None and total != transfer.total)
            ):
                part.unlink(missing_ok=True)  # another range or another file: start over
                raise _Dropped(f"the server answered Content-Range {header!r} to bytes={offset}-")
            mode = "ab"
        elif status == 200:
            transfer.ignores_ranges = transfer.ignores_ranges or offset > 0
            length = response.headers.get("Content-Length") or ""
            total = int(length) if length.isdigit() else None
            offset, mode = 0, "wb"
        else:
            raise _Refused(f"unexpected HTTP status {status}")
        transfer.total = total
        transfer.bar.reset(total=total)
        transfer.bar.update(offset)
        size = offset
        with open(part, mode) as fh:
            while True:
                try:
                    chunk = response.read(transfer.policy.chunk_size)
                except (OSError, http.client.HTTPException) as err:
                    raise _Dropped(
                        f"the connection broke after {size} bytes ({type(err).__name__}: {err})"
                    ) from None
                if not chunk:
                    break
                fh.write(chunk)
                size += len(chunk)
                transfer.bar.update(len(chunk))
            fh.flush()
            os.fsync(fh.fileno())
    if total is not None and size < total:
        raise _Dropped(f"the connection closed after {size} of {total} bytes")


def _source_hint(info: CheckpointInfo) -> str:
    """The fix for a download from the wrong place, naming the base-URL setting."""
    if info.fixed_url:
        return (
            f"this checkpoint has a fixed URL ({BASE_URL_ENV} does not apply); fetch "
            f"{info.filename} by hand and pass checkpoints_dir=<its folder>"
        )
    value = os.environ.get(BASE_URL_ENV, "").strip()
    now = f"is set to {value!r}" if value else f"is unset, so {DEFAULT_BASE_URL} is used"
    return (
        f"{BASE_URL_ENV} {now}; point it at a folder that serves the official {info.filename}, "
        "or fetch the file by hand and pass checkpoints_dir=<its folder>"
    )


def _fetch(info: CheckpointInfo, transfer: _Transfer) -> None:
    """Request until the .part is whole, retrying dropped transfers with backoff."""
    part, policy = transfer.part, transfer.policy
    longest = part.stat().st_size if part.is_file() else 0
    failures = 0
    while True:
        try:
            _fetch_once(transfer)
            return
        except _Refused as err:
            part.unlink(missing_ok=True)
            raise CheckpointError(
                f"could not download checkpoint {info.name!r} ({info.filename}) from "
                f"{transfer.url} ({err}). Check that URL: {_source_hint(info)}"
            ) from None
        except _Dropped as err:
            size = part.stat().st_size if part.is_file() else 0
            if size > longest:  # progress: the count of failures in a row starts again
                longest, failures = size, 0
            failures += 1
            if failures < policy.attempts:
                time.sleep(policy.backoff_s * 2 ** (failures - 1))
                continue
            keep = size > 0 and not transfer.ignores_ranges
            if not keep:  # the server restarts from zero anyway: the bytes are worthless
                part.unlink(missing_ok=True)
            kept = (
                f"The {size} bytes received are kept in {part}; running again resumes there. "
                if keep
                else "Nothing was kept. "
            )
            raise CheckpointError(
                f"could not download checkpoint {info.name!r} ({info.filename}) from "
                f"{transfer.url}: {err} ({failures} failed attempts in a row). {kept}Check the "
                f"network and run again; or {_source_hint(info)}"
            ) from None


def _architecture(info: CheckpointInfo) -> nn.Module | None:
    """The (meta-device) module a download of ``info`` must fit: ``info.config``, else the
    preset of a registered checkpoint; None for an unregistered info without a config."""
    spec: Any = info.config
    if spec is None:
        if CHECKPOINTS.get(info.name) != info:
            return None
        spec = info.preset
    if info.kind == "unet":
        from glide.text2im import build_model

        return build_model(spec, device="meta")
    from glide.clip import build_clip

    clip = build_clip(spec, device="meta")
    return clip.image_encoder if info.kind == "clip-image" else clip.text_encoder


def _verify(info: CheckpointInfo, transfer: _Transfer) -> None:
    """Check size, loadability, architecture and SHA-256 of the .part; delete it if bad."""
    part = transfer.part
    size = part.stat().st_size
    problem = None
    if transfer.total is not None and size != transfer.total:
        problem = f"it holds {size} bytes but the server announced {transfer.total}"
    else:
        try:
            state = load_state_dict_file(part)
            module = _architecture(info)
            if module is not None:
                check_state_dict(module, state, source=f"the downloaded {info.filename}")
            del state
        except CheckpointError as err:
            problem = str(err)
        if problem is None and info.sha256:
            digest = sha256_file(part)
            if digest != info.sha256.lower():
                problem = f"its SHA-256 is {digest}, the registered one is {info.sha256}"
    if problem is not None:
        part.unlink(missing_ok=True)
        raise CheckpointError(
            f"the download of checkpoint {info.name!r} ({info.filename}) from {transfer.url} "
            f"is corrupt, so it was deleted and not cached: {problem}. Run again to fetch it "
            f"afresh; if it fails the same way, that URL does not serve the official file: "
            + _source_hint(info)
        )


def _download(
    info: CheckpointInfo, dest: Path, progress: bool, policy: DownloadPolicy | None = None
) -> None:
    """Fetch ``info`` to ``dest`` (see the module doc): under ``<dest>.lock``, resumable
    transfer into ``<dest>.part``, verification, then an atomic rename onto ``dest``."""
    from filelock import FileLock
    from tqdm.auto import tqdm

    policy = policy or DOWNLOAD_POLICY
    url = checkpoint_url(info)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with FileLock(str(dest) + ".lock"):
        if dest.is_file():  # another process finished it while we waited
            return
        leftover = part.is_file() and part.stat().st_size > 0
        with tqdm(unit="B", unit_scale=True, desc=info.filename, disable=not progress) as bar:
            transfer = _Transfer(url, part, policy, bar)
            _fetch(info, transfer)
            try:
                _verify(info, transfer)
            except CheckpointError:
                if not leftover:
                    raise
                # the bytes left by an earlier run may belong to another file: start over once
                transfer = _Transfer(url, part, policy, bar)
                _fetch(info, transfer)
                _verify(info, transfer)
        os.replace(part, dest)


# ----- resolution ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """Where a checkpoint lives and which architecture it has."""

    name: str
    path: Path
    kind: str  # "unet", "clip-image", "clip-text"
    config: UNetConfig | CLIPConfig


def _config_for(kind: str, value: Any) -> UNetConfig | CLIPConfig:
    if isinstance(value, (UNetConfig, CLIPConfig)):
        return value
    if kind == "unet":
        if isinstance(value, str):
            return UNetConfig.preset(value)
        return UNetConfig.from_options(value)
    if isinstance(value, str):
        return CLIPConfig.preset(value)
    return CLIPConfig.from_yaml_dict(value)


def resolve_checkpoint(
    name_or_path: str | Path,
    *,
    checkpoints_dir: str | Path | None = None,
    options: Mapping[str, Any] | UNetConfig | CLIPConfig | None = None,
    kind: str | None = None,
    cache_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> ResolvedCheckpoint:
    """Find the file and architecture of a checkpoint name or path (see the module doc)."""
    key = _ALIASES.get(str(name_or_path), str(name_or_path))
    info = CHECKPOINTS.get(key)
    folder = Path(checkpoints_dir) if checkpoints_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise CheckpointError(f"checkpoints_dir={str(folder)!r} is not a directory")
    dir_options = read_options_file(folder) if folder is not None else {}

    if info is None and key in dir_options and folder is not None:
        # a non-official name described by glide_options.json: <name>.pt or <name_>.pt
        candidates = [folder / f"{key}.pt", folder / f"{key.replace('-', '_')}.pt"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise CheckpointError(
                f"{folder / OPTIONS_FILE} describes {key!r} but neither "
                f"{candidates[0].name} nor {candidates[1].name} is in {folder}"
            )
        name = key
    elif info is None:
        path = Path(name_or_path)
        if not path.is_file():
            raise CheckpointError(
                f"checkpoint {str(name_or_path)!r} is neither a registered name "
                f"({', '.join(CHECKPOINTS)}) nor an existing file"
            )
        folder = path.parent
        dir_options = read_options_file(folder)
        by_file = {i.filename: i for i in CHECKPOINTS.values()}
        info = by_file.get(path.name)
        name = info.name if info else path.stem
    else:
        name = info.name
        if folder is not None:
            path = folder / info.filename
            if not path.is_file():
                present = sorted(p.name for p in folder.glob("*.pt"))
                raise CheckpointError(
                    f"checkpoint {name!r}: {info.filename} is not in "
                    f"checkpoints_dir={str(folder)!r} (it holds {present or 'no .pt files'}); "
                    "add the file or drop checkpoints_dir to use the official download"
                )
        else:
            path = Path(cache_dir or default_cache_dir()) / info.filename
            if not path.is_file():
                if not download:
                    raise CheckpointError(
                        f"checkpoint {name!r} is not cached at {path} and download=False; "
                        f"fetch {info.url} (base URL from ${BASE_URL_ENV}) or pass checkpoints_dir"
                    )
                _download(info, path, progress)

    stem_key = path.stem
    entry = dir_options.get(name, dir_options.get(stem_key))
    ckpt_kind = kind or (info.kind if info else None)
    if ckpt_kind is None:
        ckpt_kind = _guess_kind(options if options is not None else entry)
    if options is not None:
        config = _config_for(ckpt_kind, options)
    elif entry is not None:
        config = _config_for(ckpt_kind, entry)
    elif info is not None:
        config = _config_for(ckpt_kind, info.config if info.config is not None else info.preset)
    else:
        raise CheckpointError(
            f"checkpoint file {str(path)!r} is not an official file name and {OPTIONS_FILE} in "
            f"its folder does not describe {name!r}; pass options=<options dict or UNetConfig>"
        )
    return ResolvedCheckpoint(name=name, path=path, kind=ckpt_kind, config=config)


def _guess_kind(value: Any) -> str:
    if isinstance(value, CLIPConfig):
        raise GlideError("a CLIPConfig describes two files; use load_clip() for the noised CLIP")
    if isinstance(value, Mapping) and "n_xf_blocks_image" in value:
        raise GlideError("this entry is a CLIP config; use load_clip() for the noised CLIP")
    return "unet"


# ----- loading ------------------------------------------------------------------------------


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a plain ``dict[str, Tensor]`` checkpoint (also accepts ``{"state_dict": ...}``)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure here means a bad file
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: {type(err).__name__}: {err}. The file may be "
            "truncated or not a PyTorch state dict; delete it (a cached download is fetched "
            "again) or pass the right file"
        ) from None
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for wrapper in ("state_dict", "model"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not hold a dict of tensors (a state_dict)"
        )
    return dict(obj)


def check_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str = "checkpoint"
) -> None:
    """Raise CheckpointError unless ``state_dict`` has exactly the model's keys and shapes."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    misshaped = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if not (missing or unexpected or misshaped):
        return

    def listing(keys: list[str], fmt) -> str:
        shown = ", ".join(fmt(k) for k in keys[:12])
        return shown + (f", ... ({len(keys) - 12} more)" if len(keys) > 12 else "")

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s): " + listing(missing, str))
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): " + listing(unexpected, str))
    if misshaped:
        parts.append(
            f"{len(misshaped)} mis-shaped key(s): "
            + listing(misshaped, lambda k: f"{k} (file {list(got[k])}, model {list(expected[k])})")
        )
    raise CheckpointError(
        f"{source} does not match the architecture {type(model).__name__}: "
        + "; ".join(parts)
        + ". Check that the options (options=, glide_options.json) describe this file"
    )


def _load_into(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str,
    device: torch.device | str,
    dtype: torch.dtype,
) -> nn.Module:
    """Strictly load ``state_dict`` into ``model`` (possibly built on the meta device)."""
    check_state_dict(model, state_dict, source=source)
    tensors = {
        k: v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)
        for k, v in state_dict.items()
    }
    model.load_state_dict(tensors, strict=True, assign=True)
    return model.eval()


def load_checkpoint(
    name_or_path: str | Path,
    *,
    checkpoints_dir: str | Path | None = None,
    options: Mapping[str, Any] | UNetConfig | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> nn.Module:
    """Load a GLIDE U-Net checkpoint (official name or ``.pt`` path) strictly, in eval mode.

    Returns a :class:`glide.text2im.Text2ImUNet` (or variant) with ``.config`` and
    ``.checkpoint_path`` set. For the noised CLIP use :func:`load_clip`.
    """
    from glide.text2im import build_model

    info = CHECKPOINTS.get(_ALIASES.get(str(name_or_path), str(name_or_path)))
    if info is not None and info.kind != "unet":
        raise GlideError(
            f"{info.name!r} is a noised CLIP checkpoint; load both halves with load_clip()"
        )
    resolved = resolve_checkpoint(
        name_or_path,
        checkpoints_dir=checkpoints_dir,
        options=options,
        cache_dir=cache_dir,
        download=download,
        progress=progress,
    )
    if resolved.kind != "unet":
        raise GlideError(
            f"{resolved.name!r} is a noised CLIP checkpoint; load both halves with load_clip()"
        )
    model = build_model(resolved.config, device="meta")
    state = load_state_dict_file(resolved.path)
    _load_into(model, state, f"checkpoint {str(resolved.path)!r}", device, dtype)
    model.checkpoint_path = resolved.path
    return model


def load_clip(
    source: str | Path | None = None,
    *,
    checkpoints_dir: str | Path | None = None,
    config: str | Mapping[str, Any] | CLIPConfig | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_dir: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
) -> nn.Module:
    """Load the noised CLIP: ``clip_image_enc.pt`` into ``.image_encoder`` and
    ``clip_text_enc.pt`` into ``.text_encoder`` (strict). ``source`` may be None or "clip"
    (official files) or a checkpoints directory (same as ``checkpoints_dir``)."""
    from glide.clip import build_clip, clip_config

    if config is not None:
        config = clip_config(config)
    if source is not None and str(source) != "clip":
        if not Path(source).is_dir():
            raise GlideError(
                f"load_clip source={str(source)!r} is invalid: pass None/'clip' (official "
                "files) or a checkpoints directory holding clip_image_enc.pt and clip_text_enc.pt"
            )
        if checkpoints_dir is not None and Path(checkpoints_dir) != Path(source):
            raise GlideError("pass the checkpoints directory once (source or checkpoints_dir)")
        checkpoints_dir = source
    halves = {}
    for name in ("clip-image-enc", "clip-text-enc"):
        halves[name] = resolve_checkpoint(
            name,
            checkpoints_dir=checkpoints_dir,
            options=config,
            cache_dir=cache_dir,
            download=download,
            progress=progress,
        )
    cfg_image, cfg_text = (halves[n].config for n in halves)
    if cfg_image != cfg_text:
        raise CheckpointError(
            f"{OPTIONS_FILE} gives different CLIP configs for clip-image-enc and clip-text-enc "
            f"({cfg_image} vs {cfg_text}); one noised CLIP needs one config"
        )
    model = build_clip(cfg_image, device=device, dtype=dtype)
    for name, part in (
        ("clip-image-enc", model.image_encoder),
        ("clip-text-enc", model.text_encoder),
    ):
        path = halves[name].path
        state = load_state_dict_file(path)
        check_state_dict(part, state, source=f"checkpoint {str(path)!r}")
        part.load_state_dict(state, strict=True)
    model.checkpoint_paths = {n: r.path for n, r in halves.items()}
    return model.eval()


# ----- saving -------------------------------------------------------------------------------


def save_checkpoint(
    model: nn.Module | Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a plain state dict (official layout: the module's own keys) atomically.

    ``dtype`` optionally casts floating-point tensors (e.g. float16 to halve the file).
    Returns the path. For the noised CLIP save ``clip.image_encoder`` and ``clip.text_encoder``
    to ``clip_image_enc.pt`` and ``clip_text_enc.pt``.
    """
    state = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    out = {}
    for key, tensor in state.items():
        tensor = tensor.detach().to("cpu")
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        out[key] = tensor.clone().contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: torch.save(out, fh))
    return path
