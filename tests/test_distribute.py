"""tf.distribute: two CPU worker processes (MultiWorkerMirroredStrategy) match one process."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from gapnet.cv.runfolder import read_predictions

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "experiments", "run_kfold.py")
# inner_fraction 0.4 (1 in 2): a selection set of 6 of each fold's 12 training samples, so
# that each worker gets its share of every validation batch.
CFG = dict(
    image_size=32,
    epochs=2,
    batch_size=8,
    folds=2,
    verbose=0,
    augment=False,
    early_stopping_patience=0,
    inner_fraction=0.4,
    model_kwargs={"widths": [8, 8, 8], "dense": [16, 16]},
)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_cpu_workers_match_a_single_process(tmp_path):
    from gapnet.data.synthetic.generate import write_dataset

    data = write_dataset(tmp_path / "syn", 24, 32, seed=3, workers=1, progress=False)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(CFG))
    base = [sys.executable, SCRIPT, "--data", data, "--config", str(cfg)]
    subprocess.run(base + ["--out", str(tmp_path / "single")], check=True, capture_output=True)
    cluster = [f"localhost:{p}" for p in _free_ports(2)]
    procs = [
        subprocess.Popen(
            base + ["--out", str(tmp_path / "multi"), "--strategy", "multiworker"],
            env=dict(
                os.environ,
                TF_CONFIG=json.dumps(
                    {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": i}}
                ),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    for p in procs:
        out, _ = p.communicate(timeout=400)
        assert p.returncode == 0, out[-3000:]
        logs.append(out)
    # Each worker read only its half of every global batch: 6 training samples per fold
    # (12 less the 6 of the selection set), 2 epochs, so 12 reads in one process, 6 each.
    for w, out in enumerate(logs):
        for k in range(2):
            assert f"fold {k}: worker {w} read 6 training samples in epochs 1-2" in out, out[-3000:]
    single = read_predictions(str(tmp_path / "single" / "oof_predictions.csv"))[1]
    multi = read_predictions(str(tmp_path / "multi" / "oof_predictions.csv"))[1]
    # Same global batches and all-reduced gradients; batch-norm statistics are per replica
    # (4 samples instead of 8), so the results agree closely but not bit for bit.
    assert np.abs(single - multi).max() < 0.03
    assert np.corrcoef(single.ravel(), multi.ravel())[0, 1] > 0.99
    assert os.path.isfile(tmp_path / "multi" / "report" / "report.html")  # the chief's
    assert not os.path.exists(tmp_path / "multi" / ".worker1" / "report")
