"""Data: label CSVs, images, validation, the uint8 cache, the tf.data pipeline,
augmentation, oversampling, external (HPAv18) import and the synthetic atlas.

Pipeline order: `labels` and `images` read files; `source` finds a dataset on disk;
`validate` checks every file; `cache` stores decoded uint8 arrays; `pipeline` streams
batches; `augment` holds the recipe; `prepare` puts them together for a run.
"""
