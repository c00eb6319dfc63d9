"""Command lines of the GLIDE stack: ``python -m glide.cli.sample`` and ``glide.cli.inpaint``
(also ``glide-bench-sample`` / ``glide-bench-inpaint``); :mod:`glide.cli.common` holds what they
share. ``python -m glide.sample`` and ``python -m glide.inpaint`` are aliases."""
