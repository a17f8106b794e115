"""The model layer: windows, splits, scaling, the LSTM, training, transfer, evaluation, bundles.

Design in one paragraph (the modules repeat the reasoning where it matters):

* Target: cumulative log returns ``ln(C[t+k] / C[t])`` for k = 1..H, predicted directly (one head output per
  step). They are scale-free, so a model trained when the index sat at 500 still applies at 5000; a model
  that predicts scaled price *levels* fails exactly on the recent data that matters, because those prices
  lie outside the range its scaler saw. Prices come back as ``C[t] * exp(pred)``.
* Honesty: chronological train/val/test splits with a gap of ``horizon`` anchors between parts (no target
  day is shared), scalers fitted on the train part only and stored with the model, and every metric in
  price units beside the random-walk baseline (last close carried forward).
* One orchestration (:func:`stockops.model.experiment.run_experiment`) used by the CLI, the trainer and
  the benchmarks; it knows nothing about MLflow.

This ``__init__`` deliberately imports nothing: the operator imports ``stockops.model.config`` for its CRD
models and must not pull in torch.
"""
