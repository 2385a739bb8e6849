"""Exact linear regions of small fully-connected ReLU networks with a 2-D input.

Section 9 of the GradAlign paper (Li & Guo, "GradAlign for Training-free Model Performance
Inference", Fig. 4) argues that the number of linear regions, the quantity behind NASWOT and the
expressivity term of TE-NAS, is a fragile criterion: for the network

    A1 = max(W1 x + B1, 0),   A2 = max(W2 A1 + B2, 0),   O = max(W3 A2 + B3, 0)

with ``W1, W2`` 2x2 and ``W3`` mapping 2 units to 1, perturbing a single parameter slightly
changes the number of regions the input plane is cut into (7 to 10 in the paper's figure).

Definition. A *linear region* here is an activation region: a maximal set of inputs in the box
on which every ReLU unit of the network (including the output unit when the output has a ReLU,
as in the paper) has a fixed on/off state. Within one such region the network is one affine
map. Pre-activations exactly equal to zero count as "off" (``ReLU(0) = 0``: both states give the
same output there). Regions are counted when they have positive area inside the box; two
regions with different patterns are counted separately even if their affine maps happened to
coincide (the convention of Serra et al. 2018, Hanin & Rolnick 2019, and the NASWOT / TE-NAS
activation-pattern counts).

Method (exact, not a sampling estimate). Start from the box as one convex polygon with the
identity as its affine map. Layer by layer and unit by unit, split every current polygon by the
line where the unit's pre-activation is zero (the pre-activation is an affine function of the
input inside a polygon whose earlier units have fixed states), keep the pieces of positive area,
and record the unit's state on each. After a layer, each polygon's affine map becomes
``D (W A x + W c + b)`` with ``D`` the diagonal of its unit states. Every leaf polygon has a
distinct pattern, and every pattern with positive area is one convex leaf (the set of inputs
with a given pattern is an intersection of half-planes), so the number of leaves is the number
of activation regions. By default all arithmetic is exact rational arithmetic
(:class:`fractions.Fraction`; a float weight is converted exactly), so coincident lines, lines
through vertices and tangencies are decided without rounding; ``exact=False`` uses float64 with
a small tolerance and is faster for wider networks.

Counting the distinct activation patterns seen on a grid of inputs
(:func:`count_patterns_on_grid`) only gives a lower bound: thin regions between grid points are
missed. It is provided for comparison.

Weights use the ``torch.nn.Linear`` convention ``z = W x + b`` with ``W`` of shape
``(out, in)``; the paper's ``W3`` (written 2x1) is a ``(1, 2)`` array here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = [
    "Region",
    "activation_patterns",
    "count_linear_regions",
    "count_patterns_on_grid",
    "linear_region_polygons",
    "parse_box",
]

Number = Fraction | float
_Point = tuple[Number, Number]


@dataclass(frozen=True)
class Region:
    """One linear region: a convex polygon of the input plane and its activation pattern.

    Attributes:
        vertices: ``(m, 2)`` float array, counter-clockwise.
        pattern: per ReLU layer, the on (1) / off (0) state of each unit.
        area: the polygon's area.
        slope: the ``(out, 2)`` Jacobian of the network output on the region.
        offset: the ``(out,)`` output at the origin of the region's affine map.
    """

    vertices: np.ndarray
    pattern: tuple[tuple[int, ...], ...]
    area: float
    slope: np.ndarray
    offset: np.ndarray


def parse_box(box: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """``a`` -> ``[-a, a]^2``; ``((x0, x1), (y0, y1))`` passes through (validated)."""
    try:
        if np.isscalar(box):
            a = float(box)
            if not a > 0 or not np.isfinite(a):
                raise ConfigError(f"box half-width must be a positive number; got {box!r}")
            return (-a, a), (-a, a)
        (x0, x1), (y0, y1) = box
        x0, x1, y0, y1 = float(x0), float(x1), float(y0), float(y1)
    except (TypeError, ValueError):
        raise ConfigError(f"box must be a half-width a or ((x0, x1), (y0, y1)); got {box!r}") \
            from None
    if not (np.isfinite([x0, x1, y0, y1]).all() and x0 < x1 and y0 < y1):
        raise ConfigError(f"box must satisfy x0 < x1 and y0 < y1 (finite); got {box!r}")
    return (x0, x1), (y0, y1)


def _check_layers(weights: Sequence[Any], biases: Sequence[Any]
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(weights) == 0 or len(weights) != len(biases):
        raise ConfigError(f"need one bias per weight matrix (and at least one layer); got "
                          f"{len(weights)} weights and {len(biases)} biases")
    layers = []
    width = 2
    for i, (w, b) in enumerate(zip(weights, biases)):
        w = np.atleast_2d(np.asarray(w, dtype=np.float64))
        b = np.atleast_1d(np.asarray(b, dtype=np.float64)).reshape(-1)
        if w.ndim != 2 or w.shape[1] != width:
            raise ConfigError(f"layer {i + 1}: weight of shape {w.shape}, expected (out, {width})"
                              " (z = W x + b; the input is 2-D)")
        if b.shape != (w.shape[0],):
            raise ConfigError(f"layer {i + 1}: bias of shape {b.shape}, expected ({w.shape[0]},)")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ConfigError(f"layer {i + 1}: weights and biases must be finite")
        layers.append((w, b))
        width = w.shape[0]
    return layers


def _area2(poly: Sequence[_Point]) -> Number:
    """Twice the signed area (shoelace)."""
    s: Number = 0
    n = len(poly)
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        s += x0 * y1 - x1 * y0
    return s


class _Arith:
    """Exact (Fraction) or float arithmetic, with the float tolerances in one place."""

    def __init__(self, exact: bool, box_area: float) -> None:
        self.exact = exact
        self.area_tol = 0 if exact else 1e-12 * box_area

    def num(self, x: float) -> Number:
        return Fraction(float(x)) if self.exact else float(x)

    def zero(self, d: Number, scale: Number) -> bool:
        if self.exact:
            return d == 0
        return abs(d) <= 1e-12 * float(scale)

    def split(self, poly: list[_Point], a: Number, b: Number, c: Number
              ) -> tuple[list[_Point] | None, list[_Point] | None]:
        """The parts of ``poly`` where ``a x + b y + c >= 0`` and ``<= 0`` (None if empty)."""
        scale = (abs(a) + abs(b)) * max(max(abs(v) for p in poly for v in p), 1) + abs(c)
        vals = []
        for x, y in poly:
            d = a * x + b * y + c
            vals.append(0 if self.zero(d, scale) else d)
        if all(v >= 0 for v in vals):
            return poly, None
        if all(v <= 0 for v in vals):
            return None, poly
        pos: list[_Point] = []
        neg: list[_Point] = []
        n = len(poly)
        for i in range(n):
            p, q = poly[i], poly[(i + 1) % n]
            dp, dq = vals[i], vals[(i + 1) % n]
            if dp >= 0:
                pos.append(p)
            if dp <= 0:
                neg.append(p)
            if (dp > 0 > dq) or (dp < 0 < dq):
                t = dp / (dp - dq)
                r = (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))
                pos.append(r)
                neg.append(r)
        return self.clean(pos), self.clean(neg)

    def clean(self, poly: list[_Point]) -> list[_Point] | None:
        out: list[_Point] = []
        for p in poly:
            if not out or out[-1] != p:
                out.append(p)
        if len(out) > 1 and out[0] == out[-1]:
            out.pop()
        if len(out) < 3 or abs(_area2(out)) <= 2 * self.area_tol:
            return None
        return out


def _regions(weights: Sequence[Any], biases: Sequence[Any], box: Any, final_relu: bool,
             exact: bool) -> list[tuple[list[_Point], list[list[Number]], list[Number],
                                        tuple[tuple[int, ...], ...]]]:
    layers = _check_layers(weights, biases)
    (x0, x1), (y0, y1) = parse_box(box)
    ar = _Arith(exact, (x1 - x0) * (y1 - y0))
    X0, X1, Y0, Y1 = (ar.num(v) for v in (x0, x1, y0, y1))
    box_poly: list[_Point] = [(X0, Y0), (X1, Y0), (X1, Y1), (X0, Y1)]  # counter-clockwise
    one, zero = ar.num(1.0), ar.num(0.0)
    # each region: polygon, affine map A (k x 2) and c (k) giving the current layer's input
    regions = [(box_poly, [[one, zero], [zero, one]], [zero, zero], ())]
    for li, (w, b) in enumerate(layers):
        W = [[ar.num(v) for v in row] for row in w]
        B = [ar.num(v) for v in b]
        relu = li < len(layers) - 1 or final_relu
        new = []
        for poly, A, c, pattern in regions:
            Z = [[sum((W[j][k] * A[k][d] for k in range(len(A))), zero) for d in range(2)]
                 for j in range(len(W))]
            z0 = [sum((W[j][k] * c[k] for k in range(len(c))), zero) + B[j]
                  for j in range(len(W))]
            if not relu:
                new.append((poly, Z, z0, pattern))
                continue
            pieces: list[tuple[list[_Point], tuple[int, ...]]] = [(poly, ())]
            for j in range(len(W)):
                nxt = []
                for pp, bits in pieces:
                    a_, b_ = Z[j]
                    if a_ == 0 and b_ == 0:  # constant pre-activation on this cell
                        nxt.append((pp, bits + (1 if z0[j] > 0 else 0,)))
                        continue
                    pos, neg = ar.split(pp, a_, b_, z0[j])
                    if pos is not None:
                        nxt.append((pos, bits + (1,)))
                    if neg is not None:
                        nxt.append((neg, bits + (0,)))
                pieces = nxt
            for pp, bits in pieces:
                A2 = [Z[j] if bits[j] else [zero, zero] for j in range(len(W))]
                c2 = [z0[j] if bits[j] else zero for j in range(len(W))]
                new.append((pp, A2, c2, pattern + (bits,)))
        regions = new
    return regions


def count_linear_regions(weights: Sequence[Any], biases: Sequence[Any], box: Any = 1.0, *,
                         final_relu: bool = True, exact: bool = True) -> int:
    """Number of linear (activation) regions of the network inside ``box``.

    Args:
        weights: per layer, an ``(out, in)`` matrix (the first has ``in = 2``).
        biases: per layer, an ``(out,)`` vector.
        box: half-width ``a`` of ``[-a, a]^2``, or ``((x0, x1), (y0, y1))``.
        final_relu: the output layer has a ReLU too (the paper's ``O = max(W3 A2 + B3, 0)``);
            False: a linear output layer (it then cuts nothing).
        exact: rational arithmetic (default); False: float64 with a tolerance.

    Example:
        >>> count_linear_regions([[[1.0, 0.0]]], [[0.0]], box=1.0)  # one unit, x1 = 0
        2
    """
    return len(_regions(weights, biases, box, final_relu, exact))


def linear_region_polygons(weights: Sequence[Any], biases: Sequence[Any], box: Any = 1.0, *,
                           final_relu: bool = True, exact: bool = True) -> list[Region]:
    """The linear regions themselves (polygons, patterns, affine maps), e.g. for plotting
    with :func:`nasx.plot.plot_linear_regions`. Arguments as :func:`count_linear_regions`."""
    out = []
    for poly, A, c, pattern in _regions(weights, biases, box, final_relu, exact):
        verts = np.array([[float(x), float(y)] for x, y in poly], dtype=np.float64)
        out.append(Region(verts, pattern, abs(float(_area2(poly))) / 2,
                          np.array([[float(v) for v in row] for row in A], dtype=np.float64),
                          np.array([float(v) for v in c], dtype=np.float64)))
    return out


def activation_patterns(weights: Sequence[Any], biases: Sequence[Any], points: np.ndarray, *,
                        final_relu: bool = True) -> np.ndarray:
    """On/off state of every ReLU unit at each of ``points`` (``(n, 2)``): an ``(n, units)``
    boolean array (pre-activation exactly 0 counts as off)."""
    layers = _check_layers(weights, biases)
    h = np.asarray(points, dtype=np.float64)
    if h.ndim != 2 or h.shape[1] != 2:
        raise ConfigError(f"points must have shape (n, 2); got {h.shape}")
    bits = []
    for li, (w, b) in enumerate(layers):
        z = h @ w.T + b
        if li < len(layers) - 1 or final_relu:
            on = z > 0
            bits.append(on)
            h = np.where(on, z, 0.0)
        else:
            h = z
    return np.concatenate(bits, axis=1) if bits else np.zeros((len(h), 0), dtype=bool)


def count_patterns_on_grid(weights: Sequence[Any], biases: Sequence[Any], box: Any = 1.0, *,
                           resolution: int = 512, final_relu: bool = True) -> int:
    """Distinct activation patterns at the centres of a ``resolution x resolution`` grid over
    ``box``: a lower bound of :func:`count_linear_regions` (regions thinner than the grid
    spacing are missed), for comparison only."""
    if resolution < 1:
        raise ConfigError(f"resolution must be >= 1; got {resolution}")
    (x0, x1), (y0, y1) = parse_box(box)
    xs = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    ys = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    pats = activation_patterns(weights, biases, pts, final_relu=final_relu)
    packed = np.ascontiguousarray(np.packbits(pats, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    return len(np.unique(keys))
