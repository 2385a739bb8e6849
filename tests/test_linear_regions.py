"""Exact linear-region counts of small 2-D ReLU networks (nasx.linear_regions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasx.errors import ConfigError
from nasx.linear_regions import (
    activation_patterns,
    count_linear_regions,
    count_patterns_on_grid,
    linear_region_polygons,
)


def test_one_unit_splits_the_box_in_two():
    assert count_linear_regions([[[1.0, 0.0]]], [[0.0]], box=1.0) == 2
    # oblique line through the box
    assert count_linear_regions([[[1.0, 2.0]]], [[0.3]], box=1.0) == 2


def test_line_outside_the_box_does_not_split():
    assert count_linear_regions([[[1.0, 0.0]]], [[5.0]], box=1.0) == 1
    assert count_linear_regions([[[1.0, 1.0]]], [[-2.5]], box=1.0) == 1
    # touching the box at a corner only (x + y = 2 meets [-1, 1]^2 at (1, 1)): no area on one side
    assert count_linear_regions([[[1.0, 1.0]]], [[-2.0]], box=1.0) == 1
    # along an edge of the box (x = 1)
    assert count_linear_regions([[[1.0, 0.0]]], [[-1.0]], box=1.0) == 1


def test_two_crossing_lines_give_four():
    assert count_linear_regions([[[1.0, 0.0], [0.0, 1.0]]], [[0.0, 0.0]], box=1.0) == 4
    # one line outside the box: 2 regions
    assert count_linear_regions([[[1.0, 0.0], [0.0, 1.0]]], [[0.0, 3.0]], box=1.0) == 2
    # crossing at (0.8, -0.8), inside the box: 4
    assert count_linear_regions([[[1.0, 1.0], [1.0, -1.0]]], [[0.0, -1.6]], box=1.0) == 4
    # y = 0 and y = 0.1 x + 0.5 cross at x = -5, outside the box: 3
    assert count_linear_regions([[[0.0, 1.0], [-0.1, 1.0]]], [[0.0, -0.5]], box=1.0) == 3
    # parallel lines inside the box: 3 strips
    assert count_linear_regions([[[1.0, 0.0], [1.0, 0.0]]], [[0.5, -0.5]], box=1.0) == 3
    # the same line twice: 2 regions (patterns 11 and 00)
    assert count_linear_regions([[[1.0, 0.0], [2.0, 0.0]]], [[0.0, 0.0]], box=1.0) == 2


def test_three_lines_in_general_position_give_seven():
    w = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    assert count_linear_regions([w], [[0.0, 0.0, -0.5]], box=2.0) == 7


def test_final_relu_of_a_linear_output_cuts_nothing():
    # second layer: one unit z = a1 - 0.5 a0 ... with and without its ReLU
    weights = [[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0]]]
    biases = [[0.0, 0.0], [-0.5]]
    assert count_linear_regions(weights, biases, box=1.0, final_relu=False) == 4
    # with the output ReLU: a1 + a2 = 0.5 bends; it cuts the regions where it is non-constant:
    # (+,+): x + y = 0.5 cuts; (+,-): x = 0.5 cuts; (-,+): y = 0.5 cuts; (-,-): z = -0.5 < 0
    assert count_linear_regions(weights, biases, box=1.0) == 7


def test_dead_previous_layer_gives_constant_preactivation():
    # first unit on for x > 0 only; the second layer unit sees 0 on x < 0 and is on there
    # through its positive bias (constant), and on x > 0 its line x = 0.5 * ... cuts
    weights = [[[1.0, 0.0]], [[-2.0]]]
    biases = [[0.0], [1.0]]
    # on x > 0: z2 = -2x + 1 > 0 iff x < 0.5 -> two regions; on x < 0: one region (z2 = 1)
    assert count_linear_regions(weights, biases, box=1.0) == 3


def _grid_check(weights, biases, box, resolution):
    exact = count_linear_regions(weights, biases, box=box)
    grid = count_patterns_on_grid(weights, biases, box=box, resolution=resolution)
    return exact, grid


def test_two_layer_network_matches_a_fine_grid():
    # hand-made 2-2-1 network whose regions are all wide (>> grid spacing)
    weights = [[[1.0, 0.5], [-0.3, 1.0]], [[1.0, -1.0], [0.5, 1.0]], [[1.0, -1.0]]]
    biases = [[0.1, -0.2], [0.2, -0.4], [0.05]]
    exact, grid = _grid_check(weights, biases, 2.0, 800)
    assert exact == grid
    assert exact >= 4
    # every region's polygon contains grid points with its own pattern
    regions = linear_region_polygons(weights, biases, box=2.0)
    assert len(regions) == exact
    assert sum(r.area for r in regions) == pytest.approx(16.0)
    for r in regions:
        centroid = r.vertices.mean(axis=0, keepdims=True)
        pat = activation_patterns(weights, biases, centroid)[0]
        assert tuple(int(b) for b in pat) == sum(r.pattern, ())


def test_region_maps_reproduce_the_network():
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(3, 2)), rng.normal(size=(3, 3)), rng.normal(size=(1, 3))]
    biases = [rng.normal(size=3) * 0.5, rng.normal(size=3) * 0.5, rng.normal(size=1) * 0.5]
    for r in linear_region_polygons(weights, biases, box=1.5):
        p = r.vertices.mean(axis=0)
        h = p
        for w, b in zip(weights, biases):
            h = np.maximum(w @ h + b, 0.0)
        assert np.allclose(r.slope @ p + r.offset, h)


@pytest.mark.parametrize("seed", range(6))
def test_exact_float_and_grid_agree_on_random_paper_networks(seed):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(1, 2))]
    biases = [rng.normal(size=2) * 0.5, rng.normal(size=2) * 0.5, rng.normal(size=1) * 0.5]
    exact = count_linear_regions(weights, biases, box=2.0)
    assert count_linear_regions(weights, biases, box=2.0, exact=False) == exact
    # the grid finds a subset of the patterns: never more than the exact count
    assert count_patterns_on_grid(weights, biases, box=2.0, resolution=400) <= exact
    # and the areas tile the box
    assert sum(r.area for r in linear_region_polygons(weights, biases, 2.0)) == \
        pytest.approx(16.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.25, 0.5, 2.0, 3.0, 7.5]),
       layer=st.integers(0, 2), unit=st.integers(0, 1))
def test_invariant_to_positive_rescaling_of_a_neuron(seed, scale, layer, unit):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(1, 2))]
    biases = [rng.normal(size=2) * 0.5, rng.normal(size=2) * 0.5, rng.normal(size=1) * 0.5]
    base = count_linear_regions(weights, biases, box=2.0)
    unit = min(unit, weights[layer].shape[0] - 1)
    w2 = [w.copy() for w in weights]
    b2 = [b.copy() for b in biases]
    w2[layer][unit] *= scale
    b2[layer][unit] *= scale
    # scaling a unit's incoming weights and bias by s > 0 scales its output by s; with the
    # outgoing weights divided by s the network function is unchanged
    if layer + 1 < len(w2):
        w2[layer + 1][:, unit] /= scale
    assert count_linear_regions(w2, b2, box=2.0) == base
    # without compensating downstream, the unit's own hyperplane is unchanged but the next
    # layer's lines move; the count of a network scaled as a whole layer by s is unchanged
    w3 = [w.copy() for w in weights]
    b3 = [b.copy() for b in biases]
    w3[layer] *= scale
    b3[layer] *= scale
    for k in range(layer + 1, len(w3)):
        b3[k] *= scale
    assert count_linear_regions(w3, b3, box=2.0) == base


def test_grid_is_only_a_lower_bound():
    # a thin strip of width 0.002 between two parallel lines: the exact count sees it, a coarse
    # grid does not
    w = [[[1.0, 0.0], [1.0, 0.0]]]
    b = [[0.001, -0.001]]
    assert count_linear_regions(w, b, box=1.0) == 3
    assert count_patterns_on_grid(w, b, box=1.0, resolution=50) == 2


def test_bad_input_is_a_config_error():
    with pytest.raises(ConfigError, match="expected"):
        count_linear_regions([[[1.0, 0.0, 0.0]]], [[0.0]])
    with pytest.raises(ConfigError, match="bias"):
        count_linear_regions([[[1.0, 0.0]]], [[0.0, 1.0]])
    with pytest.raises(ConfigError, match="box"):
        count_linear_regions([[[1.0, 0.0]]], [[0.0]], box=-1.0)
    with pytest.raises(ConfigError, match="box"):
        count_linear_regions([[[1.0, 0.0]]], [[0.0]], box=((1.0, 0.0), (0.0, 1.0)))
    with pytest.raises(ConfigError, match="finite"):
        count_linear_regions([[[np.nan, 0.0]]], [[0.0]])
    with pytest.raises(ConfigError):
        count_linear_regions([], [])


def test_rectangular_box():
    assert count_linear_regions([[[1.0, 0.0]]], [[-2.0]], box=((0.0, 3.0), (0.0, 1.0))) == 2
    assert count_linear_regions([[[1.0, 0.0]]], [[-4.0]], box=((0.0, 3.0), (0.0, 1.0))) == 1
