"""Training and fine-tuning recipes of GLIDE (Nichol et al., 2021), runnable on CPU or GPU and
under ``torchrun`` (data parallel):

- ``python -m glide.train.text2im``  text-conditional base model, hybrid loss, 20% caption
  dropout for classifier-free guidance (:mod:`glide.train.text2im`);
- ``python -m glide.train.inpaint``  inpainting fine-tuning with zero-initialised extra input
  channels (:mod:`glide.train.inpaint`);
- ``python -m glide.train.clip``     noised CLIP for CLIP guidance (:mod:`glide.train.clip`);
- ``python -m glide.train.upsample`` 64->256 upsampler (:mod:`glide.train.upsample`);
- ``python -m glide.train.upsample_inpaint``  inpainting fine-tuning of the upsampler, zero-
  initialised extra channels as the base's (:mod:`glide.train.upsample_inpaint`).

Shared machinery: :mod:`~glide.train.config` (options), :mod:`~glide.train.data` (captioned
images), :mod:`~glide.train.draws` (per-step randomness independent of process count),
:mod:`~glide.train.loop` (AdamW, EMA, logging, checkpoints), :mod:`~glide.train.state`,
:mod:`~glide.train.export`, :mod:`~glide.train.distributed`.
"""
