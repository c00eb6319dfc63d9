"""Alias of :mod:`glide.cli.inpaint` so that ``python -m glide.inpaint`` keeps working."""

from glide.cli.inpaint import main

if __name__ == "__main__":
    main()
