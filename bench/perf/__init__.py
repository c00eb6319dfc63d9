"""Speed and memory benchmarks of the GLIDE networks (``python -m bench.perf``).

- :mod:`bench.perf.cli`: the command line and the printed table;
- :mod:`bench.perf.step`: one sampler step, run the way a variant says;
- :mod:`bench.perf.memory`: peak memory of one step, measured in a fresh process.
"""
