"""AI preference labeling (SPEC.md §1): the paper's labeler, measured against human labels.

Modules (plain Python, never Django):
  config    LabelingConfig, the run's knobs, saved as JSON (no torch import)
  prompts   preambles, endings, CoT and direct-scoring text; prompt assembly
  exemplars the few-shot exemplar sets of each task
  engine    Sample, PairLabel, Labeler (the fast scorer)
  reference score_naive (the plain reference the fast scorer must equal)
  calibration  contextual calibration and the exemplar copy rate
  direct    DirectScorer: 1-10 ratings as rewards in [-1, 1] for direct RLAIF
  metrics   alignment with a Wilson CI, position bias, label mass, calibration (numpy/scipy)
  data      records of pipeline.data as samples with their human labels

The model runs in ``pipeline.inference`` (token ids in, logits out); this package knows the
prompts and answer tokens. Importing this package imports nothing heavy; import the module you need.
"""
