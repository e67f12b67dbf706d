"""Rendering one synthetic HPA sample: four uint8 channels in `CHANNELS` order.

Blue: textured nuclei with darker nucleoli; dividing cells have condensed, brighter
chromatin (a metaphase plate, or two daughter nuclei in telophase). Red: microtubules,
curved filaments from each cell's centrosome to its outline. Yellow: the ER, a reticular
network dense around the nucleus and fading outward. Green: the sample's label patterns
(`patterns.PATTERNS`) with cell-to-cell expression variation (some cells not expressing).

Nuisance, per sample: channel gains and background, uneven illumination, optical blur
plus defocus in some samples, a share of poorly stained samples (dim green), and
Poisson-like shot noise plus Gaussian read noise, both at the level of the 512-px field
averaged down to the output size (a 128-px render is as noisy as a resized 512-px one).
Gains are calibrated so that channel means and 99th percentiles come close to the real
Kaggle PNGs (docs/synthetic.md table).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gapnet.data.synthetic.morphology import Layout, make_layout, touching_edges
from gapnet.data.synthetic.paint import Painter
from gapnet.data.synthetic.patterns import PATTERNS

# Median channel gains (R, G, B, Y) applied to unit-intensity drawings; calibrated
# against the real PNGs' per-channel mean and 99th percentile.
GAINS = np.array([0.9, 0.3, 0.76, 0.62], np.float32)
GENERATOR_VERSION = 4  # part of the default dataset's cache key: bump when images change


def band_noise(rng, size: int, period: float) -> np.ndarray:
    """Smooth random texture with features about `period` pixels across, std 1."""
    n = max(int(round(size / period)), 2)
    small = rng.standard_normal((n + 3, n + 3)).astype(np.float32)
    big = cv2.resize(small, (size + int(3 * size / n),) * 2, interpolation=cv2.INTER_CUBIC)
    out = big[:size, :size]
    return (out - out.mean()) / (out.std() + 1e-6)


@dataclass
class Maps:
    """Whole-field masks and textures shared by the channels and the patterns."""

    cell: np.ndarray
    nuc: np.ndarray
    cyto: np.ndarray
    nucleoli: np.ndarray
    er: np.ndarray
    junctions: np.ndarray
    tex: np.ndarray
    tex_fine: np.ndarray


def make_maps(L: Layout, rng, s: float) -> Maps:
    size = L.size
    inside = L.owner >= 0
    cell = np.clip((1 - L.d) / 0.08, 0, 1).astype(np.float32)
    nuc = np.where(inside, np.clip((1 - L.dn) / 0.12, 0, 1), 0).astype(np.float32)
    cyto = cell * (1 - nuc)
    nucleoli = Painter(size, s)
    for c in L.cells:
        for x, y, r in c.nucleoli:
            cv2.circle(
                nucleoli.img, (int(x * 16), int(y * 16)), int(r * 16), 1.0, -1, cv2.LINE_AA, shift=4
            )
    nucleoli_map = cv2.GaussianBlur(nucleoli.img, (0, 0), max(1.2 * s, 0.5)) * nuc
    fade = np.exp(-np.clip(L.dn - 1, 0, None) * 1.3) * cyto
    ridge = np.exp(-((band_noise(rng, size, 7 * s + 1) / 0.35) ** 2))
    er = (ridge * 0.8 + 0.2) * fade
    edge = touching_edges(L.owner)
    junctions = cv2.GaussianBlur(edge.astype(np.float32), (0, 0), max(0.8 * s, 0.5))
    junctions /= max(junctions.max(), 1e-6)
    return Maps(
        cell,
        nuc,
        cyto,
        nucleoli_map,
        er.astype(np.float32),
        junctions,
        band_noise(rng, size, 40 * s + 1),
        band_noise(rng, size, 5 * s + 1),
    )


def _blue(L: Layout, m: Maps, rng, s) -> np.ndarray:
    level = np.ones(len(L.cells) + 1, np.float32)
    level[:-1] = rng.uniform(0.55, 0.85, len(L.cells))
    for i, c in enumerate(L.cells):
        if c.phase:
            level[i] = min(level[i] * 1.6, 1.3)  # condensed chromatin is brighter
    lvl = level[L.owner]  # owner -1 picks the last entry, masked by nuc anyway
    return m.nuc * lvl * (0.7 + 0.3 * np.tanh(m.tex_fine)) * (1 - 0.55 * m.nucleoli)


def _red(L: Layout, m: Maps, rng, s) -> np.ndarray:
    p = Painter(L.size, s)
    for c in L.cells:
        amp = rng.uniform(0.35, 0.7)
        for pts in c.filaments:
            p.line(pts, amp)
    return p.finish() + 0.18 * m.cyto * (0.8 + 0.2 * m.tex)


# Puncta and filaments of the protein are much brighter than its diffuse pools in HPA
# images (often near saturation); drawn features get this factor over the fills.
GREEN_PUNCTA_BOOST = 4.0


def _green(
    L: Layout, m: Maps, labels, rng, s, truth: dict | None = None, variability: float = 0.0
) -> np.ndarray:
    p = Painter(L.size, s, boost=GREEN_PUNCTA_BOOST)
    parts = {}
    keep_parts = truth is not None or variability > 0
    for k in labels:
        before = p.img.copy()
        layers = {sig: a.copy() for sig, a in p._layers.items()} if keep_parts else None
        PATTERNS[k](p, L, m, rng)
        if len(labels) > 1:  # relative abundance of each location
            p.img = before + (p.img - before) * rng.uniform(0.7, 1.0)
        if keep_parts:  # label k's own drawing (no random draws: same image bytes)
            part = Painter(L.size, s)
            part.img = p.img - before
            part._layers = {sig: a - layers.get(sig, 0) for sig, a in p._layers.items()}
            parts[k] = part.finish()
    img = p.finish()
    expr = rng.lognormal(0, 0.35, len(L.cells) + 1).astype(np.float32)
    expr[:-1][rng.random(len(L.cells)) < rng.uniform(0.0, 0.15)] = 0  # non-expressing cells
    expr[-1] = 0
    blur = max(2 * s, 0.5)
    if variability <= 0:  # every expressing cell shows every label (the 2018 atlas)
        emap = cv2.GaussianBlur(expr[L.owner], (0, 0), blur)
        if truth is not None:
            truth.update(_truth(L, parts, dict.fromkeys(parts, expr), dict.fromkeys(parts, emap)))
        return img * emap
    # single-cell variability: each label shows in a subset of the expressing cells (drawn
    # after every other draw of the sample)
    exprs = {k: expr * show for k, show in variable_cells(labels, expr, rng, variability).items()}
    emaps = {k: cv2.GaussianBlur(e[L.owner], (0, 0), blur) for k, e in exprs.items()}
    if truth is not None:
        truth.update(_truth(L, parts, exprs, emaps))
    out = np.zeros_like(img)
    for k in labels:
        out += parts[k] * emaps[k]
    return out


# Single-cell variability (`variability` > 0): each label of an image is variable with
# that probability; a variable label shows in each expressing cell with probability q,
# q ~ Beta(2, 2) per image and label (mean 0.5, most images 0.2-0.8), in at least one.
VARIABLE_SHARE = (2.0, 2.0)


def variable_cells(labels, expr: np.ndarray, rng, variability: float) -> dict:
    """{label: (n_cells + 1,) 0/1 float32, which cells show it}; the last entry (outside the
    cells) is 0. A label is variable with probability `variability`; else every cell
    shows it. A variable label keeps at least one expressing cell, so the image's labels
    are the union of its cells' (when any cell expresses)."""
    n = len(expr) - 1
    expressing = np.flatnonzero(expr[:-1] > 0)
    out = {}
    for k in labels:
        show = np.ones(n + 1, np.float32)
        if rng.random() < variability:
            q = rng.beta(*VARIABLE_SHARE)
            show[:-1] = rng.random(n) < q
            if len(expressing) and not show[expressing].any():
                show[rng.choice(expressing)] = 1
        show[-1] = 0
        out[k] = show
    return out


# A pixel belongs to label k's pattern where k's drawing, times the cell's expression, is
# above this fraction of its peak; a cell shows k with at least MIN_CELL_PX such pixels.
PATTERN_LEVEL = 0.05
MIN_CELL_PX = 3


def _truth(L: Layout, parts: dict, exprs: dict, emaps: dict) -> dict:
    """Ground truth of one sample: cell and nucleus label images (cell i -> label i + 1,
    0 background), per-label pattern masks, and the labels each cell shows (label k's
    expression per cell `exprs[k]` and its smoothed map `emaps[k]`)."""
    inside = L.owner >= 0
    cells = np.where(inside, L.owner.astype(np.int32) + 1, 0)
    nuclei = np.where(inside & (L.dn < 1.0), cells, 0)
    masks, shows = {}, {i + 1: [] for i in np.unique(L.owner[inside]).tolist()}
    for k, drawn in parts.items():
        level = drawn * emaps[k]
        peak = float(level.max())
        mask = level > PATTERN_LEVEL * peak if peak > 0 else np.zeros(level.shape, bool)
        masks[k] = mask
        counts = np.bincount(cells[mask], minlength=cells.max() + 1)
        for cell in shows:
            if exprs[k][cell - 1] > 0 and counts[cell] >= MIN_CELL_PX:
                shows[cell].append(k)
    return {"cells": cells, "nuclei": nuclei, "masks": masks, "shows": shows}


def render(
    labels,
    size: int,
    rng: np.random.Generator,
    truth: dict | None = None,
    variability: float = 0.0,
) -> np.ndarray:
    """Renders one sample with the given labels as uint8 (size, size, 4), channels RGBY.

    With a `truth` dict, also fills it with the sample's ground truth (`_truth`: "cells",
    "nuclei", "masks", "shows") without drawing any extra random number, so the image is
    byte-identical with or without it. `variability` > 0 gives single-cell variability
    (`variable_cells`); at 0 (the default) the image is the same bytes as before the knob.
    """
    s = size / 512.0
    labels = sorted(set(int(k) for k in labels))
    # The bridge (16) and the spindle (17) need cells in telophase and metaphase.
    phases = None
    if 16 in labels or 17 in labels:
        phases = (["telophase"] * int(rng.integers(3, 6)) if 16 in labels else []) + (
            ["metaphase"] * int(rng.integers(3, 6)) if 17 in labels else []
        )
    # Junctions (22) show where cells touch: always a confluent sheet, which a fifth of the
    # other samples are too, so density alone does not give the label away.
    confluent = 22 in labels or rng.random() < 0.2
    L = make_layout(rng, size, phases=phases, confluent=confluent)
    m = make_maps(L, rng, s)
    channels = [
        _red(L, m, rng, s),
        _green(L, m, labels, rng, s, truth, variability),
        _blue(L, m, rng, s),
        0.9 * m.er + 0.12 * m.cyto,
    ]

    # === Optics and noise ===
    illum = np.clip(1 + 0.2 * band_noise(rng, size, size / 1.5), 0.6, 1.4)
    psf = 0.7 * s + (rng.uniform(0.5, 2.0) * s if rng.random() < 0.3 else 0.0)
    gains = GAINS * rng.lognormal(0, 0.3, 4).astype(np.float32)
    if rng.random() < 0.08:  # poorly stained sample: dim protein channel
        gains[1] *= rng.uniform(0.25, 0.45)
    # Noise of the 512-px field averaged down to this size: a pixel 1/s^2 times larger
    # collects 1/s^2 times the photons, and averaging 1/s^2 reads scales read noise by s.
    photons = rng.uniform(150, 600) / s**2
    read = rng.uniform(0.004, 0.01) * s
    out = np.empty((size, size, 4), np.uint8)
    for c, img in enumerate(channels):
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), max(psf, 0.3))
        img = img * illum * gains[c] + rng.uniform(0.005, 0.02)
        noise = rng.standard_normal((size, size), dtype=np.float32)
        img += noise * np.sqrt(np.clip(img, 0, None) / photons + read**2)
        out[..., c] = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return out
