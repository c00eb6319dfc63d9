"""Alias of :mod:`glide.cli.sample` so that ``python -m glide.sample`` keeps working."""

from glide.cli.sample import main

if __name__ == "__main__":
    main()
