"""tf.distribute in one place: the strategy, the worker's role, and Keras 3 workarounds.

`Config.strategy`: "default" (one device), "mirrored" (MirroredStrategy over all local
GPUs) or "multiworker" (MultiWorkerMirroredStrategy, its cluster from the TF_CONFIG
environment variable). Under "multiworker" every worker runs the same job in step; only
the chief's (worker 0's) files are the run's, the others write to a hidden sub-folder.
Each worker's training input reads only its replicas' parts of every global batch
(`shard_of`, `gapnet.data.pipeline.make_dataset(shard=...)`), not the whole dataset.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

_STRATEGIES: dict = {}


def distribution(name: str):
    """The tf.distribute strategy `name`, created once per process.

    Create the "multiworker" one before any other TF op: `run_kfold.py` does so at start-up.
    """
    if name not in _STRATEGIES:
        if name == "mirrored":
            _STRATEGIES[name] = tf.distribute.MirroredStrategy()
        elif name == "multiworker":
            _STRATEGIES[name] = tf.distribute.MultiWorkerMirroredStrategy()
            _patch_keras_multiworker()
        else:
            _STRATEGIES[name] = tf.distribute.get_strategy()
    return _STRATEGIES[name]


def worker_index() -> int:
    """This process's worker index under TF_CONFIG (0, the chief, without it)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return int(task.get("index", 0)) if task.get("type", "worker") == "worker" else 0


def is_chief(strategy: str) -> bool:
    """True unless this process is a non-chief worker of a multi-worker run."""
    return strategy != "multiworker" or worker_index() == 0


def run_folder(out: str, strategy: str) -> str:
    """Where this process writes: `out`, or `out/.worker<i>` for a non-chief worker."""
    return out if is_chief(strategy) else os.path.join(out, f".worker{worker_index()}")


def check_selection_size(n_select: int | None, strategy: str, fold=None) -> None:
    """Refuses a selection set smaller than the replica count: some replica would get no
    validation sample and the collective ops abort."""
    from gapnet.training.resume import TrainingError

    replicas = distribution(strategy).num_replicas_in_sync
    if n_select is not None and n_select < replicas:
        raise TrainingError(
            f"fold {fold}: the selection set has {n_select} samples, fewer "
            f"than the {replicas} replicas; raise inner_fraction or use "
            "selection='last'"
        )


def shard_of(ctx: tf.distribute.InputContext) -> tuple[int, int, int]:
    """The parts of every global batch this worker's input pipeline reads, as
    `make_dataset(shard=(first, count, parts))`: one part per replica in sync, this
    worker's replicas' parts, in order."""
    parts = ctx.num_replicas_in_sync
    local = parts // ctx.num_input_pipelines
    return ctx.input_pipeline_id * local, local, parts


class ReadCounter:
    """A reader (same contract) that counts the samples read through it: the log line that
    shows each worker reading only its share."""

    def __init__(self, reader):
        import threading

        self.reader, self.size, self.count = reader, reader.size, 0
        self._lock = threading.Lock()  # tf.data reads from several threads
        if hasattr(reader, "read_batch"):
            self.read_batch = self._read_batch

    def __len__(self) -> int:
        return len(self.reader)

    def _add(self, n: int) -> None:
        with self._lock:
            self.count += n

    def __call__(self, i):
        self._add(1)
        return self.reader(i)

    def _read_batch(self, indices):
        self._add(len(indices))
        return self.reader.read_batch(indices)


def _patch_keras_multiworker() -> None:
    """Works around keras-team/keras#20585 (Keras 3 `fit` under MultiWorkerMirroredStrategy).

    Keras reduces each step's logs across workers with `strategy.reduce("MEAN", v, axis=0)`,
    which fails on scalar logs. The logs are metric results whose variables are already
    aggregated across workers, so each worker's single local value is the global one:
    taking it (Keras' single-worker path) gives the same logs. Gradients are untouched.
    """
    from keras.src.backend.tensorflow import trainer

    trainer._collective_all_reduce_multi_worker = lambda strategy: False


def build_before_fit(model, data) -> None:
    """Builds metrics, loss and optimizer from a local batch, then stops `fit` from doing it.

    Keras 3's TF trainer builds them from a batch of the distributed dataset reduced with
    `strategy.reduce`, which fails under MultiWorkerMirroredStrategy (keras-team/keras
    #20585: "Attempt to convert a value (PerReplica...)"). Built beforehand, nothing is lost.
    """
    model._symbolic_build(data_batch=next(iter(data.take(1))))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
