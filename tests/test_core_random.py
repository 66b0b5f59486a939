"""Seeding: spawn keys, never seed + k."""
import numpy as np
import pytest

from balnet.engine.random import CONNECTIVITY, realization_seed, spawn_seeds, stream


def test_realization_seed_is_kth_spawned_child():
    kids = spawn_seeds(42, 5)
    for k in range(5):
        assert np.array_equal(kids[k].generate_state(4), realization_seed(42, k).generate_state(4))


def test_streams_independent_of_neighbours_and_not_seed_plus_k():
    a = stream(3, 1, CONNECTIVITY).standard_normal(5)
    assert np.array_equal(a, stream(3, 1, CONNECTIVITY).standard_normal(5))
    # realization 1 of seed 3 is not realization 0 of seed 4 (the seed + k anti-pattern)
    assert not np.allclose(a, stream(4, 0, CONNECTIVITY).standard_normal(5))
    assert not np.allclose(a, stream(3, 1, CONNECTIVITY + 1).standard_normal(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        stream(bad, 0)
