"""The protein (green) pattern of each of the 28 HPA locations, drawn cell by cell.

`PATTERNS[k](paint, layout, maps, rng)` adds label k's pattern at unit-ish intensity; the
caller then applies each cell's expression level, the optics and the noise. Lengths are in
512-px units (`paint.s` scales them). Confusable pairs stay close on purpose, as in HPA:
endosomes (9) vs lysosomes (10) differ only in vesicle size and how perinuclear they sit;
centrosome (19, one or two small dots) vs MTOC (18, one larger dot with a halo); nucleoli
(2) vs fibrillar center (3, tiny dots inside the nucleoli); peroxisomes (8) vs endosomes
(9, fewer and larger). Cytokinetic bridge (16) and mitotic spindle (17) are drawn only in
dividing cells (telophase and metaphase ones).
"""

from __future__ import annotations

import math

import numpy as np

from gapnet.data.synthetic.morphology import MIN_FEATURE_PX
from gapnet.data.synthetic.paint import Painter, cell_points, nucleus_points


def _nucleoplasm(p: Painter, L, m, rng):
    p.img += 0.55 * m.nuc * (1 - m.nucleoli) * (0.8 + 0.4 * m.tex_fine)


def _nuclear_membrane(p, L, m, rng):
    # Rim half-width: 9 % of the nuclear radius, at least about 0.7 pixel.
    radius = np.array([min(c.na, c.nb) for c in L.cells] + [1.0], np.float32)
    width = np.maximum(0.09, 0.7 / radius)[L.owner]
    p.img += 3.0 * np.exp(-(((L.dn - 1) / width) ** 2)) * (L.owner >= 0)


def _nucleoli(p, L, m, rng):
    p.img += 2.5 * m.nucleoli  # dense: much brighter than the nucleoplasm's 0.55


def _fibrillar_center(p, L, m, rng):
    for c in L.cells:
        for x, y, r in c.nucleoli:
            k = rng.integers(1, 4)
            ang, rad = rng.uniform(0, 2 * np.pi, k), r * 0.6 * np.sqrt(rng.uniform(0, 1, k))
            p.dots(x + rad * np.cos(ang), y + rad * np.sin(ang), 1.5, 0.9)


def _speckles(p, L, m, rng):
    p.img += 0.12 * m.nuc
    for c in L.cells:
        x, y = nucleus_points(c, rng.integers(10, 31), 0.85, rng)
        p.dots(x, y, rng.uniform(0.4, 0.7, len(x)), 2.0)
        jx, jy = rng.normal(0, 1.6 * p.s, (2, len(x)))  # irregular: a lobe beside each blob
        p.dots(x + jx, y + jy, 0.35, 1.4)


def _nuclear_bodies(p, L, m, rng):
    for c in L.cells:
        x, y = nucleus_points(c, rng.integers(2, 7), 0.8, rng)
        p.dots(x, y, 1.4, 1.6)


def _er(p, L, m, rng):
    p.img += 0.8 * m.er


def _golgi(p, L, m, rng):
    for c in L.cells:
        psi = rng.uniform(0, 2 * np.pi)
        k = rng.integers(10, 21)
        ang = psi + rng.uniform(-0.7, 0.7, k)  # a ribbon hugging one side of the nucleus
        frac = rng.uniform(1.1, 1.3, k)
        pts = np.array([c.nucleus_point(a, f) for a, f in zip(ang, frac, strict=True)])
        p.dots(pts[:, 0], pts[:, 1], 0.9, 1.6)


def _scattered(count, lo, hi, amp, sigma):
    """Dots in each cell, `count` (low, high) of them between fractions lo..hi of the way
    from the centre to the outline, of peak `amp` and width `sigma`."""

    def draw(p, L, m, rng):
        for c in L.cells:
            x, y = cell_points(c, rng.integers(*count), lo, hi, rng)
            p.dots(x, y, amp, sigma)

    return draw


# Vesicle-like classes differ only in number, size, brightness and how perinuclear they sit.
_peroxisomes = _scattered((40, 121), 0.5, 0.95, 0.6, 0.8)  # many tiny
_endosomes = _scattered((15, 41), 0.5, 0.95, 0.7, 1.4)  # fewer, larger, spread out
_lysosomes = _scattered((15, 41), 0.45, 0.78, 0.8, 1.6)  # like endosomes, more perinuclear
_cytoplasmic_bodies = _scattered((1, 5), 0.5, 0.9, 1.1, 4.0)  # few, medium, bright


def _intermediate_filaments(p, L, m, rng):
    for c in L.cells:
        for _ in range(rng.integers(5, 11)):
            start, span = rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 4.0)
            psi = start + np.linspace(0, span, 16)
            frac = rng.uniform(0.5, 0.88) + np.cumsum(rng.normal(0, 0.025, 16))
            pts = np.array(
                [
                    c.boundary_point(a, f)
                    for a, f in zip(psi, np.clip(frac, 0.45, 0.97), strict=True)
                ]
            )
            p.line(pts, 0.7)


def _actin(p, L, m, rng):
    q = Painter(p.size, p.s, p.boost)
    for c in L.cells:
        theta = c.angle + rng.normal(0, 0.25)
        d = np.array([math.cos(theta), math.sin(theta)])
        n = np.array([-d[1], d[0]])
        half = max(c.a, c.b) * 1.1
        for off in np.linspace(-0.8, 0.8, rng.integers(6, 15)) * min(c.a, c.b):
            o = np.array([c.cx, c.cy]) + n * (off + rng.normal(0, 1.0 * p.s))
            q.line(np.array([o - d * half, o + d * half]), rng.uniform(0.5, 0.8))
    p.img += q.finish() * m.cell  # stress fibres end at the cell edge


def _focal_adhesions(p, L, m, rng):
    for c in L.cells:
        for psi in rng.uniform(0, 2 * np.pi, rng.integers(8, 21)):
            f = rng.uniform(0.8, 0.86)
            a, b = c.boundary_point(psi, f), c.boundary_point(psi, f + 0.13)
            p.line(np.array([a, b]), 0.9, thickness=2)


def _microtubules(p, L, m, rng):
    for c in L.cells:
        for pts in c.filaments:
            p.line(pts, 0.5)


def _microtubule_ends(p, L, m, rng):
    for c in L.cells:
        for pts in c.filaments:
            p.line(pts[-2:], 0.9, thickness=2)


def _cytokinetic_bridge(p, L, m, rng):
    for c in L.cells:
        if c.phase == "telophase":
            (x0, y0, *_), (x1, y1, *_) = c.nuclei()
            p.line(np.array([[x0, y0], [x1, y1]]), 1.2, thickness=2.5)
            p.dots(np.array([(x0 + x1) / 2]), np.array([(y0 + y1) / 2]), 1.5, 2.5)  # midbody


def _mitotic_spindle(p, L, m, rng):
    for c in L.cells:
        if c.phase == "metaphase":
            d = np.array([math.cos(c.division_axis), math.sin(c.division_axis)])
            n = np.array([-d[1], d[0]])
            centre = np.array([c.cx, c.cy])
            for sgn in (-1, 1):
                pole = centre + sgn * d * c.a * 0.55
                for off in np.linspace(-1, 1, rng.integers(10, 17)) * c.na:
                    p.line(np.array([pole, centre + n * off]), 1.2)
                p.dots(np.array([pole[0]]), np.array([pole[1]]), 1.0, 1.5)


def _mtoc(p, L, m, rng):
    for c in L.cells:
        x, y = c.centrosome
        p.dots(np.array([x]), np.array([y]), 1.0, 3.0)
        p.dots(np.array([x]), np.array([y]), 0.35, 10.0)  # the halo of radiating filaments


def _centrosome(p, L, m, rng):
    for c in L.cells:
        x, y = c.centrosome
        k = rng.integers(1, 3)
        ang = rng.uniform(0, 2 * np.pi)
        gap = max(2.5 * p.s, MIN_FEATURE_PX)  # the pair stays resolved at small sizes
        xs = x + np.array([0, math.cos(ang)])[:k] * gap
        ys = y + np.array([0, math.sin(ang)])[:k] * gap
        p.dots(xs, ys, 1.5, 1.3)


def _lipid_droplets(p, L, m, rng):
    for c in L.cells:
        x, y = cell_points(c, rng.integers(3, 11), 0.5, 0.9, rng)
        for xi, yi in zip(x, y, strict=True):
            p.ring(xi, yi, rng.uniform(6, 12), 0.9)


def _plasma_membrane(p, L, m, rng):
    p.img += 2.0 * np.exp(-(((1 - L.d) / 0.06) ** 2)) * (L.owner >= 0)


def _cell_junctions(p, L, m, rng):
    p.img += 2.0 * m.junctions


def _mitochondria(p, L, m, rng):
    for c in L.cells:
        k = rng.integers(20, 51)
        x, y = cell_points(c, k, 0.45, 0.9, rng)
        ang = rng.uniform(0, 2 * np.pi, k)
        length = rng.uniform(7, 14, k) * p.s
        for xi, yi, a, ln in zip(x, y, ang, length, strict=True):
            bend = rng.normal(0, 0.6)
            t = np.linspace(-0.5, 0.5, 4)
            px = xi + np.cos(a + bend * t) * t * ln
            py = yi + np.sin(a + bend * t) * t * ln
            p.line(np.stack([px, py], 1), 0.7)


def _aggresome(p, L, m, rng):
    for c in L.cells:
        x, y = c.nucleus_point(rng.uniform(0, 2 * np.pi), 1.2)
        p.dots(np.array([x]), np.array([y]), 1.2, 0.4 * min(c.na, c.nb) / p.s)


def _cytosol(p, L, m, rng):
    p.img += 0.45 * m.cyto * (0.85 + 0.3 * m.tex)


def _rods_and_rings(p, L, m, rng):
    for c in L.cells:
        x, y = cell_points(c, rng.integers(1, 4), 0.2, 0.9, rng)
        for xi, yi in zip(x, y, strict=True):
            if rng.random() < 0.5:
                a, ln = rng.uniform(0, np.pi), rng.uniform(12, 24) * p.s / 2
                d = np.array([math.cos(a), math.sin(a)]) * ln
                p.line(np.array([[xi, yi] - d, [xi, yi] + d]), 1.0, thickness=2)
            else:
                p.ring(xi, yi, rng.uniform(5, 8), 1.0)


PATTERNS = (
    _nucleoplasm,
    _nuclear_membrane,
    _nucleoli,
    _fibrillar_center,
    _speckles,
    _nuclear_bodies,
    _er,
    _golgi,
    _peroxisomes,
    _endosomes,
    _lysosomes,
    _intermediate_filaments,
    _actin,
    _focal_adhesions,
    _microtubules,
    _microtubule_ends,
    _cytokinetic_bridge,
    _mitotic_spindle,
    _mtoc,
    _centrosome,
    _lipid_droplets,
    _plasma_membrane,
    _cell_junctions,
    _mitochondria,
    _aggresome,
    _cytosol,
    _cytoplasmic_bodies,
    _rods_and_rings,
)
