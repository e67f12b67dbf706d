"""Cross-validation: `folds` (multilabel-stratified splits), `runfolder` (the run-folder
format, read back with `load_run`), `kfold` (the K-fold job), `evaluate` (OOF thresholds
and metrics), `finetune` (head fine-tuning of a run) and `submission` (test predictions).
"""
