"""Drawing primitives for the synthetic atlas: dots, lines and rings on a float32 canvas.

Sizes are given in 512-px units and scaled by `s = size / 512`. A feature thinner than a
pixel at a small size is drawn at the pixel floor, dimmed by about the square root of the
factor that averaging the 512-px image down would give (a quarter-pixel line keeps half its
peak, not a quarter), so that small structures stay visible at 128 px. Features a pixel or
wider (nearly all of them at 512 px) are drawn as they are.
Dots are splatted as impulses into one layer per blur width and blurred once per layer,
so thousands of dots cost a few Gaussian blurs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from gapnet.data.synthetic.morphology import Cell, _modulation

MIN_SIGMA = 0.6  # pixels: narrower Gaussians are sub-pixel and left as impulses


class Painter:
    def __init__(self, size: int, s: float, boost: float = 1.0):
        """`boost` scales dots, lines and rings (not direct fills of `img`)."""
        self.size, self.s, self.boost = size, s, boost
        self.img = np.zeros((size, size), np.float32)
        self._layers: dict[float, np.ndarray] = {}

    def dots(self, x, y, amp, sigma: float) -> None:
        """Gaussian dots of peak `amp` (at 512 px) and width `sigma` (512-px units)."""
        x, y = np.atleast_1d(np.asarray(x, np.float64)), np.atleast_1d(np.asarray(y, np.float64))
        amp = np.broadcast_to(np.asarray(amp, np.float64) * self.boost, x.shape)
        sig = max(sigma * self.s, MIN_SIGMA)
        sig = round(sig * 4) / 4  # share layers between similar widths
        # Peak amp: mass amp * 2 pi true^2. Below the floor the mass grows with the true
        # width, not its square: sub-pixel dots dim by ~ the square root of averaging's factor.
        true = sigma * self.s
        mass = amp * 2 * math.pi * true * max(true, min(sig, MIN_SIGMA))
        layer = self._layers.setdefault(sig, np.zeros((self.size, self.size), np.float32))
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        fx, fy = x - x0, y - y0
        for dx, dy, w in (
            (0, 0, (1 - fx) * (1 - fy)),
            (1, 0, fx * (1 - fy)),
            (0, 1, (1 - fx) * fy),
            (1, 1, fx * fy),
        ):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < self.size) & (yi >= 0) & (yi < self.size)
            np.add.at(layer, (yi[ok], xi[ok]), (mass * w)[ok])

    def line(self, pts, amp: float, thickness: float = 1.0) -> None:
        """An anti-aliased polyline through `pts` (n, 2) in pixel coordinates."""
        width = thickness * self.s
        px = max(int(round(width)), 1)
        value = float(amp * self.boost * min(1.0, math.sqrt(width / px)))
        fixed = np.round(np.asarray(pts) * 16).astype(np.int32)  # 4 fractional bits
        cv2.polylines(self.img, [fixed], False, value, px, cv2.LINE_AA, shift=4)

    def ring(self, x: float, y: float, radius: float, amp: float) -> None:
        """A hollow ring of `radius` (512-px units), one 512-px unit thick."""
        r = radius * self.s
        if r < 1.0:
            self.dots([x], [y], amp * 0.5, radius * 0.7)  # boosted inside dots()
            return
        value = float(amp * self.boost * min(1.0, math.sqrt(self.s)))
        cv2.circle(
            self.img,
            (int(round(x * 16)), int(round(y * 16))),
            int(round(r * 16)),
            value,
            1,
            cv2.LINE_AA,
            shift=4,
        )

    def finish(self) -> np.ndarray:
        out = self.img
        for sig, layer in self._layers.items():
            out += cv2.GaussianBlur(layer, (0, 0), sig) if sig >= MIN_SIGMA else layer
        self._layers.clear()
        return out


def _shape_points(cx, cy, a, b, angle, harmonics, psi, frac):
    s = frac * _modulation(harmonics, psi)
    u, v = a * np.cos(psi) * s, b * np.sin(psi) * s
    c, si = math.cos(angle), math.sin(angle)
    return cx + c * u - si * v, cy + si * u + c * v


def cell_points(cell: Cell, n: int, lo: float, hi: float, rng):
    """n random points at fractions lo..hi of the way from the cell centre to its outline."""
    psi = rng.uniform(0, 2 * np.pi, n)
    frac = np.sqrt(rng.uniform(lo**2, hi**2, n))  # uniform over the annulus area
    return _shape_points(cell.cx, cell.cy, cell.a, cell.b, cell.angle, cell.harmonics, psi, frac)


def nucleus_points(cell: Cell, n: int, hi: float, rng):
    """n random points inside the nucleus (or the daughter nuclei), up to fraction hi."""
    nuclei = cell.nuclei()
    which = rng.integers(0, len(nuclei), n)
    psi = rng.uniform(0, 2 * np.pi, n)
    frac = hi * np.sqrt(rng.uniform(0, 1, n))
    xs, ys = np.empty(n), np.empty(n)
    for k, nuc in enumerate(nuclei):
        sel = which == k
        xs[sel], ys[sel] = _shape_points(*nuc, psi[sel], frac[sel])
    return xs, ys
