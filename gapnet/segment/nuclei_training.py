"""Training the learned nucleus segmenter (`gapnet.segment.nuclei_net`) on hand-annotated
nuclei: the Data Science Bowl 2018 stage-1 training set (fluorescence images, CC0) in the
layout `DIR/index.csv` (image_id, ...), `DIR/images/<id>.png`, `DIR/labels/<id>.png`
(16-bit instance labels). `data_prep/train_nuclei.py` is the command.

- Split (`is_validation`): an image is in the validation split when the first 8 hex digits
  of sha256(image id) modulo 10 are 0 (about a tenth), fixed before any training; it is
  never trained or tuned on.
- Scale: each training image is resampled so its median nucleus diameter becomes
  `TRAIN_DIAMETER` x 0.7, 1.0 and 1.4 (the network sees nuclei of 14-28 px, so an
  estimated diameter off by up to ~1.4x still works).
- Samples: random crops (`CROP` px) of a random (image, scale), a random rotation by 90
  degrees and flip, intensity x a (log-uniform 0.6-1.6) + b (-0.1-0.1), a gamma 0.6-1.6
  and Gaussian noise (sigma 0-0.05 of the normalised range).
- Steps: Adam, learning rate 1e-3 with a cosine decay to 1e-5, batches of `BATCH`;
  weights checkpointed every `CHECK_EVERY` steps (a restart resumes at the checkpoint's
  step with fresh optimizer moments).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os

import numpy as np

from gapnet.segment.nuclei_net import (
    TRAIN_DIAMETER,
    build_unet,
    map_loss,
    normalise,
    resample,
    targets,
)

CROP = 128
BATCH = 8
SCALES = (0.7, 1.0, 1.4)
CHECK_EVERY = 100


def is_validation(image_id: str) -> bool:
    """The validation split, by hashing the image id (about 1 in 10)."""
    return int(hashlib.sha256(image_id.encode()).hexdigest()[:8], 16) % 10 == 0


def image_ids(folder: str) -> list[str]:
    """The image ids listed in `folder/index.csv`, in its order."""
    path = os.path.join(folder, "index.csv")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no index.csv (expected image_id,... rows)")
    with open(path, newline="") as f:
        return [row["image_id"] for row in csv.DictReader(f)]


def data_hash(folder: str) -> str:
    """sha256 over index.csv and every image and label file (names and bytes, sorted)."""
    h = hashlib.sha256()
    names = ["index.csv"] + sorted(
        os.path.join(sub, n)
        for sub in ("images", "labels")
        for n in os.listdir(os.path.join(folder, sub))
    )
    for name in names:
        h.update(name.encode())
        with open(os.path.join(folder, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def read_pair(folder: str, image_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(nucleus plane (the brightest colour plane per pixel), int32 labels) of one image."""
    from PIL import Image

    from gapnet.segment.nuclei import _as_plane

    image = np.asarray(Image.open(os.path.join(folder, "images", f"{image_id}.png")))
    labels = np.asarray(Image.open(os.path.join(folder, "labels", f"{image_id}.png")))
    return _as_plane(image), labels.astype(np.int32)


def training_set(folder: str, ids: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(normalised plane float16, targets float16)] of every image at every scale."""
    from gapnet.segment.nuclei import median_diameter

    out = []
    for image_id in ids:
        plane, labels = read_pair(folder, image_id)
        d = median_diameter(labels)
        if d <= 0:
            continue
        for s in SCALES:
            x, y = resample(plane, labels, s * TRAIN_DIAMETER / d)
            out.append((normalise(x).astype(np.float16), targets(y).astype(np.float16)))
    return out


def batch(pairs, rng: np.random.Generator, size: int = BATCH, crop: int = CROP):
    """(x (size, crop, crop, 1), y (size, crop, crop, 2)) of augmented random crops."""
    xs, ys = [], []
    for _ in range(size):
        x, y = pairs[rng.integers(len(pairs))]
        ph, pw = max(crop - x.shape[0], 0), max(crop - x.shape[1], 0)
        if ph or pw:
            pad = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
            x, y = np.pad(x, pad, mode="reflect"), np.pad(y, pad + ((0, 0),), mode="reflect")
        i, j = rng.integers(x.shape[0] - crop + 1), rng.integers(x.shape[1] - crop + 1)
        x = x[i : i + crop, j : j + crop].astype(np.float32)
        y = y[i : i + crop, j : j + crop].astype(np.float32)
        k = int(rng.integers(4))
        x, y = np.rot90(x, k), np.rot90(y, k)
        if rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        x = np.clip(x, 0, None) ** rng.uniform(0.6, 1.6)
        x = x * np.exp(rng.uniform(np.log(0.6), np.log(1.6))) + rng.uniform(-0.1, 0.1)
        x = x + rng.normal(0, rng.uniform(0, 0.05), x.shape)
        xs.append(x[..., None])
        ys.append(y)
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)


def train(folder: str, out: str, steps: int, seed: int = 0, log=print) -> dict:
    """Train for `steps` batches (resuming from `out`.ckpt.weights.h5 when there), write the
    weights to `out` (a .weights.h5 path) and return the card's training fields."""
    import keras

    ids = image_ids(folder)
    train_ids = [i for i in ids if not is_validation(i)]
    val_ids = [i for i in ids if is_validation(i)]
    log(f"{len(train_ids)} training images, {len(val_ids)} validation images (never trained on)")
    pairs = training_set(folder, train_ids)
    keras.utils.set_random_seed(seed)
    model = build_unet()
    lr = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=map_loss)
    ckpt, state = out.replace(".weights.h5", ".ckpt.weights.h5"), out + ".step.json"
    start = 0
    if os.path.isfile(ckpt) and os.path.isfile(state):
        model.load_weights(ckpt)
        start = json.load(open(state))["step"]
        model.optimizer.iterations.assign(start)
        log(f"resumed at step {start}")
    losses = []
    for step in range(start, steps):
        rng = np.random.default_rng([seed, step])
        x, y = batch(pairs, rng)
        losses.append(float(model.train_on_batch(x, y)))
        if (step + 1) % CHECK_EVERY == 0 or step + 1 == steps:
            model.save_weights(ckpt)
            with open(state, "w") as f:
                json.dump({"step": step + 1}, f)
            log(f"step {step + 1}/{steps} loss {np.mean(losses[-CHECK_EVERY:]):.4f}")
    shipped = build_unet()  # the weights alone (no optimizer state): ~2 MB
    shipped.set_weights(model.get_weights())
    shipped.save_weights(out)
    return {
        "data": os.path.basename(os.path.normpath(folder)),
        "data_sha256": data_hash(folder),
        "training_images": len(train_ids),
        "validation_images": len(val_ids),
        "validation_rule": "int(sha256(image_id)[:8], 16) % 10 == 0",
        "validation_ids": val_ids,
        "train_diameter_px": TRAIN_DIAMETER,
        "scales": list(SCALES),
        "crop": CROP,
        "batch": BATCH,
        "steps": steps,
        "seed": seed,
        "optimizer": "Adam, cosine decay 1e-3 -> 1e-5",
        "parameters": int(model.count_params()),
        "final_loss": float(np.mean(losses[-CHECK_EVERY:])) if losses else None,
    }
