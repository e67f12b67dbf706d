"""Carrying a finished run elsewhere: `ensemble` (one model averaging the fold models),
`card` (the model card, pure), `preset` (a preset folder: the Keras model, SavedModel and
ONNX exports, thresholds, card; `load_preset`)."""
