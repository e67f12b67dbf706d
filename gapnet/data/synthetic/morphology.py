"""Cell layout of one synthetic field of view: cells, nuclei, nucleoli, centrosomes, filaments.

All lengths are drawn in 512-px units and scaled by `size / 512`, so a field has the same
content at any size, except that organelles have a floor in output pixels
(`MIN_FEATURE_PX`): at 128 px a nucleolus stays a few pixels wide rather than vanishing
into one, as the features a model must learn from have to stay visible. Cells are
star-shaped (an ellipse modulated by a few Fourier terms); each pixel belongs to the cell
whose normalized shape distance `d` is smallest and below 1, so neighbouring cells touch
along a shared boundary and may overlap before assignment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MIN_FEATURE_PX = 1.5  # smallest radius (output pixels) of nucleoli and similar organelles

# Per-sample "cell lines": typical cell radius (512-px units), elongation, cell count range.
CELL_LINES = (
    dict(radius=(34, 44), elong=(0.75, 1.0), count=(24, 40)),  # small, round, dense
    dict(radius=(52, 72), elong=(0.55, 0.9), count=(8, 18)),  # large, spread (U-2 OS)
    dict(radius=(44, 58), elong=(0.4, 0.7), count=(12, 24)),  # elongated (fibroblast-like)
    dict(radius=(38, 54), elong=(0.7, 1.0), count=(5, 12)),  # sparse colonies
    dict(radius=(44, 60), elong=(0.65, 0.95), count=(14, 28)),  # epithelial sheets (CACO-2)
)


@dataclass
class Cell:
    cx: float
    cy: float
    a: float  # semi-axes (pixels at the output size)
    b: float
    angle: float
    harmonics: np.ndarray  # (k, amplitude, phase) rows modulating the outline
    ncx: float  # nucleus centre and semi-axes
    ncy: float
    na: float
    nb: float
    nangle: float
    nharmonics: np.ndarray
    phase: str | None = None  # None, "metaphase" or "telophase" (dividing cells)
    division_axis: float = 0.0
    nucleoli: list = field(default_factory=list)  # (x, y, r)
    centrosome: tuple = (0.0, 0.0)
    filaments: list = field(default_factory=list)  # (n, 2) float point arrays, centrosome->edge
    bbox: tuple = (0, 0, 0, 0)  # y0, y1, x0, x1

    def boundary_point(self, psi: float, frac: float = 1.0) -> tuple[float, float]:
        """The point at elliptic angle psi and fraction `frac` of the way to the outline."""
        s = frac * _modulation(self.harmonics, psi)
        u, v = self.a * math.cos(psi) * s, self.b * math.sin(psi) * s
        c, si = math.cos(self.angle), math.sin(self.angle)
        return self.cx + c * u - si * v, self.cy + si * u + c * v

    def nuclei(self) -> list[tuple]:
        """(x, y, a, b, angle, harmonics) of each nucleus: two daughters in telophase."""
        if self.phase != "telophase":
            return [(self.ncx, self.ncy, self.na, self.nb, self.nangle, self.nharmonics)]
        dx, dy = (
            math.cos(self.division_axis) * self.a * 0.5,
            math.sin(self.division_axis) * self.a * 0.5,
        )
        return [
            (
                self.cx + sgn * dx,
                self.cy + sgn * dy,
                self.na * 0.8,
                self.nb * 0.8,
                self.nangle,
                self.nharmonics,
            )
            for sgn in (-1, 1)
        ]

    def nucleus_point(self, psi: float, frac: float) -> tuple[float, float]:
        s = frac * _modulation(self.nharmonics, psi)
        u, v = self.na * math.cos(psi) * s, self.nb * math.sin(psi) * s
        c, si = math.cos(self.nangle), math.sin(self.nangle)
        return self.ncx + c * u - si * v, self.ncy + si * u + c * v


def _modulation(harmonics: np.ndarray, psi):
    out = 1.0
    for k, amp, ph in harmonics:
        out = out + amp * np.cos(k * psi + ph)
    return out


def shape_distance(xx, yy, cx, cy, a, b, angle, harmonics):
    """Normalized distance: < 1 inside the star-shaped outline, 1 on it."""
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = xx - cx, yy - cy
    u = (c * dx + s * dy) / a
    v = (-s * dx + c * dy) / b
    rho = np.sqrt(u * u + v * v)
    # cos(k psi + ph) from cos/sin psi by the angle-addition recurrence: no arctan2/cos
    # over the whole box (this loop dominated the generator's run time).
    cos1 = np.divide(u, rho, out=np.ones_like(u), where=rho > 0)
    sin1 = np.divide(v, rho, out=np.zeros_like(v), where=rho > 0)
    ck, sk = cos1, sin1
    mod = np.ones_like(u)
    k_done = 1
    for k, amp, ph in harmonics:
        while k_done < k:
            ck, sk = ck * cos1 - sk * sin1, sk * cos1 + ck * sin1
            k_done += 1
        mod += np.float32(amp * math.cos(ph)) * ck - np.float32(amp * math.sin(ph)) * sk
    return rho / mod


def _harmonics(rng, amp_max, ks=(2, 3, 4, 5)):
    return np.array([(k, rng.uniform(0, amp_max) / (k - 1), rng.uniform(0, 2 * np.pi)) for k in ks])


@dataclass
class Layout:
    size: int
    cells: list
    owner: np.ndarray  # int16 (S, S): index of the owning cell, -1 for background
    d: np.ndarray  # float32: normalized cell distance in the owning cell (inf outside)
    dn: np.ndarray  # float32: normalized distance to the owning cell's nucleus


def _filaments(cell: Cell, rng, scale: float, n_range=(14, 30)):
    """Curved microtubule paths from the centrosome to the cell outline."""
    paths = []
    x0, y0 = cell.centrosome
    for _ in range(rng.integers(*n_range)):
        psi = rng.uniform(0, 2 * np.pi)
        x1, y1 = cell.boundary_point(psi, rng.uniform(0.85, 1.0))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        length = math.hypot(x1 - x0, y1 - y0) + 1e-6
        bend = rng.normal(0, 0.18) * length
        mx += -(y1 - y0) / length * bend
        my += (x1 - x0) / length * bend
        t = np.linspace(0, 1, 9)[:, None]
        pts = (1 - t) ** 2 * [x0, y0] + 2 * (1 - t) * t * [mx, my] + t**2 * [x1, y1]
        paths.append(pts)
    return paths


def touching_edges(owner: np.ndarray) -> np.ndarray:
    """Boolean mask of the pixels on either side of a border between two different cells."""
    edge = np.zeros(owner.shape, bool)
    for a, b in (
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ):
        diff = (owner[a] != owner[b]) & (owner[a] >= 0) & (owner[b] >= 0)
        edge[a] |= diff
        edge[b] |= diff
    return edge


def make_layout(
    rng: np.random.Generator, size: int, phases: list[str] | None = None, confluent: bool = False
) -> Layout:
    """Draws a field of view: cell line, cell positions and shapes, nuclei and organelles.

    Args:
        rng: the sample's random generator.
        size: output side length (pixels).
        phases: force dividing cells in these phases ("metaphase", "telophase"; for labels
            17 and 16); None: dividing cells at a natural rate, in random phases.
        confluent: a dense epithelial sheet where most cells touch (for cell junctions).
    """
    s = size / 512.0
    line = CELL_LINES[4] if confluent else CELL_LINES[rng.integers(len(CELL_LINES))]
    radius = rng.uniform(*line["radius"]) * s
    target = int(rng.integers(line["count"][0], line["count"][1] + 1))
    if confluent:  # a closed sheet: the most cells a real field shows
        target = 40
    # Dart throwing with a minimum spacing below 2 radii: cells touch and overlap.
    centres, tries = [], 0
    spacing = radius * (rng.uniform(0.95, 1.2) if confluent else rng.uniform(1.1, 1.5))
    margin = -radius * 0.5
    while len(centres) < target and tries < target * 60:
        tries += 1
        p = rng.uniform(margin, size - margin, 2)
        if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 > spacing**2 for q in centres):
            centres.append(p)
    if len(centres) < 5:  # keep the 5-cell minimum even for crowded draws
        centres += [rng.uniform(radius, size - radius, 2) for _ in range(5 - len(centres))]

    n = len(centres)
    if phases is None:
        k = int(rng.binomial(n, rng.uniform(0.0, 0.08)))
        phases = ["metaphase" if rng.random() < 0.5 else "telophase" for _ in range(k)]
    chosen = rng.choice(n, size=min(len(phases), n), replace=False).tolist()
    dividing = dict(zip(chosen, phases, strict=False))  # phases beyond the cells are dropped

    cells = []
    for i, (cx, cy) in enumerate(centres):
        r = radius * rng.uniform(0.8, 1.2)
        elong = rng.uniform(*line["elong"])
        phase = dividing.get(i)
        if phase is not None:
            elong = 0.85 if phase == "metaphase" else 0.55
            r *= 0.85
        a, b = r / math.sqrt(elong), r * math.sqrt(elong)
        angle = rng.uniform(0, np.pi)
        off = rng.normal(0, 0.08, 2) * r
        nscale = rng.uniform(0.38, 0.52)
        cell = Cell(
            cx=cx,
            cy=cy,
            a=a,
            b=b,
            angle=angle,
            harmonics=_harmonics(rng, 0.22),
            ncx=cx + off[0],
            ncy=cy + off[1],
            na=a * nscale * rng.uniform(0.95, 1.15),
            nb=b * nscale * rng.uniform(0.95, 1.15),
            nangle=angle + rng.normal(0, 0.2),
            nharmonics=_harmonics(rng, 0.08),
            phase=phase,
            division_axis=angle,
        )
        if phase is not None:  # condensed chromatin: smaller, at the centre
            cell.ncx, cell.ncy = cx, cy
            cell.na, cell.nb = cell.a * 0.3, cell.b * 0.3
        for _ in range(rng.integers(1, 5)):
            psi, frac = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.55)
            x, y = cell.nucleus_point(psi, frac)
            r = max(min(cell.na, cell.nb) * rng.uniform(0.15, 0.26), MIN_FEATURE_PX)
            cell.nucleoli.append((x, y, r))
        psi = rng.uniform(0, 2 * np.pi)
        cell.centrosome = cell.nucleus_point(psi, rng.uniform(1.12, 1.3))
        cell.filaments = _filaments(cell, rng, s)
        ext = max(a, b) * 1.45
        cell.bbox = (
            max(int(cy - ext), 0),
            min(int(cy + ext) + 1, size),
            max(int(cx - ext), 0),
            min(int(cx + ext) + 1, size),
        )
        cells.append(cell)

    owner = np.full((size, size), -1, np.int16)
    d = np.full((size, size), np.inf, np.float32)
    dn = np.full((size, size), np.inf, np.float32)
    for i, c in enumerate(cells):
        y0, y1, x0, x1 = c.bbox
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dc = shape_distance(xx, yy, c.cx, c.cy, c.a, c.b, c.angle, c.harmonics)
        better = (dc < 1.0) & (dc < d[y0:y1, x0:x1])
        owner[y0:y1, x0:x1][better] = i
        d[y0:y1, x0:x1][better] = dc[better]
        dnc = np.minimum.reduce([shape_distance(xx, yy, *nuc) for nuc in c.nuclei()])
        dn[y0:y1, x0:x1][better] = dnc[better]
    return Layout(size, cells, owner, d, dn)
