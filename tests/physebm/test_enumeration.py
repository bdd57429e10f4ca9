"""physebm.enumeration: one bit order (unit 0 most significant) and blocked log-sums over 2ⁿ
states that equal the direct sum whatever the block size."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from physebm import enumeration
from physebm import objectives as obj


def test_bit_order_is_most_significant_first():
    n = 5
    bits = np.asarray(enumeration.states(n))
    # k = Σ_i x_i 2^{n−1−i}: row k encodes k, and rows run in lexicographic order
    np.testing.assert_array_equal(bits @ 2 ** np.arange(n - 1, -1, -1), np.arange(2**n))
    np.testing.assert_array_equal(bits, np.array(list(itertools.product((0, 1), repeat=n))))
    np.testing.assert_array_equal(enumeration.states(n, "spin"), 2 * bits - 1)
    assert bits.dtype == jnp.result_type(float)
    # the objectives' public enumeration is the same table
    np.testing.assert_array_equal(obj.enumerate_states(n, "bits"), bits)
    np.testing.assert_array_equal(obj.enumerate_states(n), 2 * bits - 1)


def test_a_block_is_a_slice_of_the_table_with_a_traced_start():
    block = jax.jit(lambda s: enumeration.states(6, "spin", s, 8))
    np.testing.assert_array_equal(block(24), enumeration.states(6, "spin")[24:32])


@pytest.mark.parametrize("domain", enumeration.DOMAINS)
@pytest.mark.parametrize("block_log2", [2, 5, 14])
def test_blocked_logsumexp_is_the_direct_sum(domain, block_log2):
    n = 9
    w = jax.random.normal(jax.random.key(0), (n,))

    def log_weight_fn(x):
        return x @ w + 0.3 * x[:, 0] * x[:, -1]

    direct = logsumexp(log_weight_fn(enumeration.states(n, domain)))
    blocked = enumeration.logsumexp_over_states(log_weight_fn, n, block_log2, domain)
    np.testing.assert_allclose(blocked, direct, rtol=1e-14)


def test_bad_domain():
    with pytest.raises(ValueError, match="domain"):
        enumeration.states(3, "pm1")
    with pytest.raises(ValueError, match="domain"):
        enumeration.logsumexp_over_states(jnp.sum, 3, domain="bit")
