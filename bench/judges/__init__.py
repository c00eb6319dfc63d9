"""The networks that judge a sweep, and how they are chosen and trained.

- :mod:`bench.judges.choice`: which judges a sweep uses (they follow the captions);
- :mod:`bench.judges.embedded`: loading the embedded judges shipped in ``assets/``;
- :mod:`bench.judges.attributes`, :mod:`bench.judges.classifier`: the attribute classifier;
- :mod:`bench.judges.eval_clip`: the embedded evaluation CLIP;
- :mod:`bench.judges.feature_extractor`: ``glide-bench-synth`` for torch-fidelity;
- :mod:`bench.judges.train`, :mod:`bench.judges.train_clip`,
  :mod:`bench.judges.one_change_scenes`: retraining the embedded judges
  (``python -m bench.judges.train``).
"""
