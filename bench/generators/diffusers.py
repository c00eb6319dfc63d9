"""The ``diffusers`` generator: any text-to-image ``diffusers.DiffusionPipeline`` on GLIDE's
protocol (``--generator diffusers --model <pipeline folder or hub id>``).

- **Guidance**: classifier-free only (``--method cfg``), through the pipeline's own
  ``guidance_scale``: ``eps_uncond + s * (eps_text - eps_uncond)`` with the empty prompt as the
  unconditional one, as in GLIDE. The pipelines skip guidance at ``guidance_scale <= 1`` (scale
  1 is the conditional model, as in GLIDE; below 1 they would not interpolate towards the
  unconditional model as GLIDE does), so scales below 1 are refused.
- **Seeds**: sample ``i`` starts from its own CPU ``torch.Generator`` seeded with the sweep's
  per-sample seed (one generator per row, which the pipelines use row by row for the initial
  latents and any step noise), so its image depends only on (caption, seed, scale): the same
  bytes for any process count or resumption at one ``--batch-size``, and across batch sizes
  up to the float rounding of batch-size-dependent kernels.
- **Sampler**: ``--sampler`` picks a scheduler of the pipeline's compatible ones
  (:data:`SCHEDULERS`), built from the pipeline's scheduler config; a pipeline without that
  scheduler among its compatibles is refused, naming them. ``--steps`` is
  ``num_inference_steps`` (a plain count).
- **Size**: the pipeline generates at its default size (``--pipeline-resolution`` to change it);
  images of another size than ``--resolution`` are resized (PIL bicubic), recorded.
- **Identity** (run ids, sweep.json): the model (a local folder's files by sha256, or a hub
  id's resolved commit), the pipeline class, the scheduler class and config, dtype, sizes.
- **Offline**: a hub id is read from the local Hugging Face cache unless ``HF_HUB_OFFLINE`` is
  set to 0; a model that is not there is an error saying how to get it.

The safety checker, where a pipeline has one, is switched off: it blacks out images, which
would be scored as samples. diffusers and transformers (the ``diffusers`` extra) are imported
only when this generator is built.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import BenchError
from bench.generators.registry import (
    GenerateFn,
    GeneratorOptions,
    check_methods,
    register_generator,
)

#: --sampler -> (diffusers scheduler class, config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ancestral": ("DDPMScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "dpm++2m": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
    ),
    "dpm++2m-sde": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
    ),
}
_CALL_ARGS = ("prompt", "guidance_scale", "num_inference_steps", "generator")


def hub_offline() -> bool:
    """Offline unless ``HF_HUB_OFFLINE`` says otherwise (0, false, no, off)."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() not in ("0", "false", "no", "off")


def folder_sha256(folder: Path) -> dict[str, str]:
    """sha256 of every file of a pipeline folder, by relative path (hidden files left out)."""
    from glide.io import sha256_file

    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}


def resolve_model(model: str, revision: str | None) -> tuple[Path, dict[str, Any]]:
    """The pipeline's folder and its identity: a local folder (its files' sha256) or a hub id
    (the commit it resolves to in the local cache)."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise BenchError(
                f"--model: {str(path)!r} has no model_index.json; give a folder written by "
                "DiffusionPipeline.save_pretrained (or a hub snapshot folder)"
            )
        if revision is not None:
            raise BenchError(
                f"--revision: {revision!r} applies to a hub id, not to the folder {str(path)!r}"
            )
        from bench.spec import content_hash

        files = folder_sha256(path)
        identity = {"source": "folder", "model": path.resolve().name, "files": content_hash(files)}
        return path, identity
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise BenchError(
            f"--model: no folder {str(path)!r}; give a pipeline folder (save_pretrained) or a "
            "hub id such as org/name"
        )
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    try:
        folder = Path(snapshot_download(model, revision=revision, local_files_only=offline))
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises several kinds
        how = (
            f"it is not in the local Hugging Face cache and HF_HUB_OFFLINE is not 0; download it "
            f"once (huggingface-cli download {model}) or run with HF_HUB_OFFLINE=0"
            if offline
            else "downloading it failed"
        )
        raise BenchError(
            f"--model: {model!r}{'' if revision is None else f' at revision {revision!r}'}: "
            f"{how} ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return folder, {"source": "hub", "model": model, "revision": folder.name}


def _json_safe(value: Any) -> Any:
    """A scheduler config as plain JSON: tuples as lists, non-finite floats as text."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _steps(steps: str) -> int:
    if not steps.isdigit():
        raise BenchError(
            f"--steps: {steps!r}; a diffusers pipeline takes a plain step count "
            "(num_inference_steps), e.g. --steps 25"
        )
    return int(steps)


def _check_scales(scales: Sequence[float]) -> None:
    low = [s for s in scales if s < 1]
    if low:
        raise BenchError(
            f"--scales: {', '.join(f'{s:g}' for s in low)} below 1 with --generator diffusers; "
            "diffusers pipelines skip guidance at guidance_scale <= 1 (the conditional model), "
            "so they cannot run GLIDE's scales below 1; give scales >= 1"
        )


def set_scheduler(pipe: Any, sampler: str) -> None:
    """Replace the pipeline's scheduler by the one ``--sampler`` maps to (same config)."""
    if sampler not in SCHEDULERS:
        raise BenchError(f"--sampler: {sampler!r}; choose from {', '.join(SCHEDULERS)}")
    name, overrides = SCHEDULERS[sampler]
    compatible = {c.__name__: c for c in [type(pipe.scheduler), *pipe.scheduler.compatibles]}
    if name not in compatible:
        raise BenchError(
            f"--sampler: {sampler!r} maps to {name}, which the pipeline's scheduler "
            f"{type(pipe.scheduler).__name__} is not compatible with (compatible: "
            f"{', '.join(sorted(compatible))}); choose another --sampler of "
            f"{', '.join(s for s, (n, _) in SCHEDULERS.items() if n in compatible) or 'none'}"
        )
    pipe.scheduler = compatible[name].from_config(pipe.scheduler.config, **overrides)


def _default_size(pipe: Any) -> int:
    factor = int(getattr(pipe, "vae_scale_factor", 1) or 1)
    size = getattr(pipe, "default_sample_size", None)
    if size is None:
        unet = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
        size = getattr(getattr(unet, "config", None), "sample_size", None)
    if not isinstance(size, int):
        raise BenchError(
            "--pipeline-resolution: the pipeline does not say its default image size; give one"
        )
    return size * factor


def _to_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """Float [N, h, w, 3] in [0, 1] -> uint8 [N, size, size, 3] (PIL bicubic when resized)."""
    from PIL import Image

    out = (np.clip(images, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if out.shape[1:3] == (size, size):
        return out
    resample = Image.Resampling.BICUBIC
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), resample)) for im in out])


def load_pipeline(folder: Path, dtype: str, device: str) -> Any:
    from bench._torchvision import ensure_torchvision
    from bench.generators.glide import torch_dtype

    ensure_torchvision()  # transformers imports torchvision
    try:
        from diffusers import DiffusionPipeline
    except ImportError as exc:
        raise BenchError(
            f"--generator diffusers: {exc}; install the extra: pip install 'glide-bench[diffusers]'"
        ) from None
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # loading chatter (accelerate hints, bars)
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        pipe = DiffusionPipeline.from_pretrained(
            str(folder), dtype=torch_dtype(dtype), local_files_only=True
        )
    finally:
        diffusers_logging.set_verbosity(verbosity)
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()
    return pipe.to(device)


@register_generator("diffusers")
def diffusers_generator(options: GeneratorOptions) -> tuple[GenerateFn, dict[str, Any]]:
    """A diffusers text-to-image pipeline with classifier-free guidance sweeps."""
    if not options.model:
        raise BenchError(
            "--model: --generator diffusers needs --model (a pipeline folder written by "
            "save_pretrained, or a hub id in the local cache)"
        )
    check_methods("diffusers", options.methods, ("cfg",))
    _check_scales(options.scales)
    steps = _steps(options.steps)
    folder, source = resolve_model(options.model, options.revision)
    pipe = load_pipeline(folder, options.dtype, options.device)
    params = inspect.signature(pipe.__call__).parameters
    missing = [a for a in _CALL_ARGS if a not in params]
    if missing:
        raise BenchError(
            f"--model: {type(pipe).__name__} is not a text-to-image pipeline with classifier-free "
            f"guidance (its call lacks {', '.join(missing)})"
        )
    set_scheduler(pipe, options.sampler)
    safety = getattr(pipe, "safety_checker", None) is not None
    if safety:
        pipe.safety_checker = None
    pipe.set_progress_bar_config(disable=True)
    native = options.pipeline_resolution or _default_size(pipe)
    size = options.resolution
    name = options.name or str(source["model"]).rstrip("/").rpartition("/")[2]
    identity = {
        "display_name": name,
        **source,
        "pipeline_class": type(pipe).__name__,
        "scheduler_class": type(pipe.scheduler).__name__,
        "scheduler": _json_safe(
            {k: v for k, v in dict(pipe.scheduler.config).items() if not k.startswith("_")}
        ),
        "num_inference_steps": steps,
        "dtype": options.dtype,
        "generated_size": native,
        "resize": None if native == size else f"PIL bicubic {native}->{size}",
        "safety_checker": "switched off" if safety else "none",
        "seeding": "one CPU torch.Generator per sample, seeded with the per-sample seed",
    }

    def generate(captions: Sequence[str], seeds: Sequence[int], method: str, scale: float):
        import torch

        if method != "cfg":
            raise AssertionError(f"diffusers generator asked for method {method!r}")
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        images = pipe(
            prompt=list(captions),
            guidance_scale=float(scale),
            num_inference_steps=steps,
            generator=generators,
            height=native,
            width=native,
            output_type="np",
        ).images
        return _to_uint8(np.asarray(images, dtype=np.float32), size)

    description = dict(identity, model_folder=str(folder), device=options.device)
    return generate, {"identity": identity, "pipeline": description}
