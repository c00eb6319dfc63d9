"""Alias: ``python -m bench.demo`` runs ``python -m reports.demo``.

The demo sweeps and then builds a report, so it lives in ``reports`` (the top layer, which may
import bench). This alias runs it by name, so that bench itself imports nothing of reports.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("reports.demo", run_name="__main__", alter_sys=True)
