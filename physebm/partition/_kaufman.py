"""Kaufman's exact partition function of the periodic square-lattice Ising model at zero field.

For an m × n torus (m rows, n columns, 2mn bonds) with coupling K = βJ > 0 (Kaufman 1949, in the
four-term form of Beale 1996, Phys. Rev. Lett. 76, 78):

    Z = ½ (2 sinh 2K)^{mn/2} (Z₁ + Z₂ + Z₃ + Z₄),

    Z₁ = Π_{r=0}^{n−1} 2 cosh(½ m γ_{2r+1}),   Z₂ = Π_{r=0}^{n−1} 2 sinh(½ m γ_{2r+1}),
    Z₃ = Π_{r=0}^{n−1} 2 cosh(½ m γ_{2r}),     Z₄ = Π_{r=0}^{n−1} 2 sinh(½ m γ_{2r}),

    cosh γ_k = cosh 2K coth 2K − cos θ_k,  θ_k = πk/n   (γ_k > 0 for k ≠ 0),
    γ₀ = 2K + ln tanh K                                  (< 0 for K < K_c, = 0 at K_c).

Numerics (all in log space, smooth in K so that ∂/∂β and ∂²/∂β² are exact by autodiff):

- With z = e^{−2K}, Q = 1 − z², S_k = sin²(θ_k/2),
  A_k = (z² + 2z − 1)² + 4zQ S_k,  B_k = (1 + z²)² + 4zQ S_k,  P_k = (1 + z²)² − 2zQ cos θ_k,
  one has cosh γ_k − 1 = A_k / (2zQ) (no cancellation near K_c, where A_k → 0) and
  ψ_k := γ_k + log(2 sinh 2K) = 4K − log 2 + log(P_k + √(A_k B_k)), which is bounded as K → 0.
- The prefactor (2 sinh 2K)^{mn/2} is absorbed into the products (each factor gets
  (2 sinh 2K)^{m/2}), so no large terms cancel at high temperature:
  log[(2 sinh 2K)^{m/2} 2cosh(½mγ)] = ½mψ + log1p(e^{−mγ}), and the sinh analogue.
- Only 2 sinh(½mγ₀) can be negative or zero. Z₃ + Z₄ is evaluated as
  Π_{r≥1} 2cosh(½mγ_{2r}) · 2cosh(½mγ₀) · (1 + ρ tanh(½mγ₀)), ρ = Π_{r≥1} tanh(½mγ_{2r}) ∈ (0, 1],
  and 1 + ρ tanh x₀ is split into non-negative parts for x₀ < 0.

Either sign of K (`kaufman_log_z`): on a torus with both sides even, flipping one
checkerboard sublattice maps K to −K, so Z(K) = Z(|K|); near K = 0, where the formula is 0/0, the
high-temperature series takes over. The choice is made by ``jnp.where`` (double-where for safe
gradients), so K may be traced.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

_LOG2 = float(np.log(2.0))


def _where_safe(cond, x, safe):
    """``x`` where ``cond`` holds, else the harmless constant ``safe`` (the double-where trick)."""
    return jnp.where(cond, x, safe)


def _log_tanh_pos(x):
    """log(tanh x) = log(1 − e^{−2x}) − log(1 + e^{−2x}) for x > 0, accurate at both ends."""
    q = jnp.exp(-2 * x)
    log_1mq = jnp.where(x > 0.35, jnp.log1p(-q), jnp.log(-jnp.expm1(-2 * x)))
    return log_1mq - jnp.log1p(q)


def _log_neg_log_tanh(y):
    """log(−log tanh y) = log 2 + log atanh(q), q = e^{−2y}, for y > 0, in log space: finite (with
    its derivatives) however large y is, where −log tanh y itself underflows."""
    q = jnp.exp(-2 * y)
    small = q < 1e-4
    q_safe = _where_safe(small, 0.5, q)
    log_ratio = jnp.where(small, jnp.log1p(q * q / 3), jnp.log(jnp.arctanh(q_safe) / q_safe))
    return _LOG2 - 2 * y + log_ratio


def _log_1m_rho(log_rho, log_neg_log_rho):
    """log(1 − ρ) = log(−log ρ) + log(−expm1(x)/(−x)), x = log ρ ≤ 0.

    The second term is x/2 + x²/24 for |x| < 1e-3; written this way, log(1 − ρ) and its
    derivatives stay finite as ρ → 1 (high temperature on a large torus), where
    log(−expm1(log ρ)) has second derivatives of order 1/(log ρ)², which overflow.
    """
    x = log_rho
    small = x > -1e-3
    x_safe = _where_safe(small, -1.0, x)
    factor = jnp.where(small, x / 2 + x * x / 24, jnp.log(jnp.expm1(x_safe) / x_safe))
    return log_neg_log_rho + factor


def _log_1p_rho_tanh(log_rho, log_neg_log_rho, x0):
    """log(1 + ρ tanh x₀) for 0 < ρ ≤ 1 and any real x₀, without cancellation.

    x₀ ≥ 0: log1p(ρ tanh x₀). x₀ < 0: log[(1 − ρ) + ρ (1 + tanh x₀)] with
    1 + tanh x₀ = 2 / (1 + e^{−2x₀}); both parts are non-negative (log(1 − ρ) from log ρ and
    log(−log ρ), see `_log_1m_rho`).
    """
    pos = x0 >= 0
    x_pos = _where_safe(pos, x0, 1.0)
    branch_pos = jnp.log1p(jnp.exp(log_rho) * jnp.tanh(x_pos))
    x_neg = _where_safe(pos, -1.0, x0)
    log_1p_tanh = _LOG2 - jnp.logaddexp(0.0, -2 * x_neg)
    branch_neg = jnp.logaddexp(_log_1m_rho(log_rho, log_neg_log_rho), log_rho + log_1p_tanh)
    return jnp.where(pos, branch_pos, branch_neg)


def kaufman_gammas(num_cols: int, coupling):
    """(γ_k, ψ_k) for k = 1, …, 2n − 1, and the signed γ₀.

    γ_k = arccosh(1 + A_k/(2zQ)) where that argument is small (accurate near K_c), else
    γ_k = ψ_k − log(2 sinh 2K) (finite for any K > 0, no overflow at large β).

    Args:
        num_cols: n (static).
        coupling: K = βJ > 0.

    Returns:
        ``(gammas, psis, gamma0)`` with ``gammas[k - 1] = γ_k``.
    """
    K = coupling
    n = num_cols
    theta = np.pi * np.arange(1, 2 * n) / n
    sin2 = jnp.asarray(np.sin(theta / 2) ** 2)
    cos_t = jnp.asarray(np.cos(theta))
    z = jnp.exp(-2 * K)
    q = -jnp.expm1(-4 * K)  # Q = 1 − z²
    zq4 = 4 * z * q
    a = (z * z + 2 * z - 1) ** 2 + zq4 * sin2
    b = (1 + z * z) ** 2 + zq4 * sin2
    p = (1 + z * z) ** 2 - 0.5 * zq4 * cos_t
    sqrt_ab = jnp.sqrt(a * b)
    psis = 4 * K - _LOG2 + jnp.log(p + sqrt_ab)
    log_2sinh2k = 2 * K + jnp.log(q)
    gamma_large = psis - log_2sinh2k

    two_zq = 0.5 * zq4
    small = a < two_zq  # cosh γ − 1 < 1
    den = _where_safe(small, two_zq, 1.0)
    num = _where_safe(small, a + sqrt_ab, 1.0)
    gamma_small = jnp.log1p(num / den)
    gammas = jnp.where(small, gamma_small, gamma_large)
    gamma0 = 2 * K + jnp.log(-jnp.expm1(-2 * K)) - jnp.log1p(jnp.exp(-2 * K))
    return gammas, psis, gamma0


def _log_zero_mode(m: int, coupling, gamma0):
    """log[(2 sinh 2K)^{m/2} · 2cosh(½mγ₀)], by the identity valid on each side of γ₀ = 0.

    γ₀ < 0: m log(1 + e^{−2K}) + log1p(e^{mγ₀});  γ₀ ≥ 0: m log(e^{2K} − 1) + log1p(e^{−mγ₀}).
    Both are exact for every K; each is used where it does not overflow.
    """
    K = coupling
    neg = gamma0 < 0
    g_neg = _where_safe(neg, gamma0, -1.0)
    g_pos = _where_safe(neg, 1.0, gamma0)
    branch_neg = m * jnp.log1p(jnp.exp(-2 * K)) + jnp.log1p(jnp.exp(m * g_neg))
    branch_pos = m * (2 * K + jnp.log(-jnp.expm1(-2 * K))) + jnp.log1p(jnp.exp(-m * g_pos))
    return jnp.where(neg, branch_neg, branch_pos)


def _ferromagnet_log_z(num_rows: int, num_cols: int, coupling):
    """Kaufman's log Z of the m × n torus for K = βJ > 0 (the formula of the module docstring)."""
    m = num_rows
    K = coupling
    gammas, psis, gamma0 = kaufman_gammas(num_cols, K)
    # k odd: 1, 3, ..., 2n-1 -> indices 0, 2, ...; k even, nonzero: 2, ..., 2n-2 -> 1, 3, ...
    g_odd, psi_odd = gammas[0::2], psis[0::2]
    g_even, psi_even = gammas[1::2], psis[1::2]

    log_z1 = jnp.sum(jnp.log1p(jnp.exp(-m * g_odd)))
    log_z2 = jnp.sum(jnp.log(-jnp.expm1(-m * g_odd)))
    b12 = 0.5 * m * jnp.sum(psi_odd) + jnp.logaddexp(log_z1, log_z2)

    log_rho = jnp.sum(_log_tanh_pos(0.5 * m * g_even))
    log_neg_log_rho = logsumexp(_log_neg_log_tanh(0.5 * m * g_even))
    b34 = (
        0.5 * m * jnp.sum(psi_even)
        + jnp.sum(jnp.log1p(jnp.exp(-m * g_even)))
        + _log_zero_mode(m, K, gamma0)
        + _log_1p_rho_tanh(log_rho, log_neg_log_rho, 0.5 * m * gamma0)
    )
    # b12 + softplus(b34 − b12) rather than logaddexp(b12, b34): the latter's derivative rule
    # weighs the two terms by exp(b − log Z) with log Z large, whose rounding would leave noise
    # of order (∂b/∂K)² · ulp(log Z) in ∂² log Z/∂K² at low temperature.
    return b12 + jnp.logaddexp(0.0, b34 - b12) - _LOG2


def small_coupling_threshold(dtype) -> float:
    """|K| below which `kaufman_log_z` uses the high-temperature series: Kaufman's form is
    accurate to rounding down to K ≈ 1e-8 in float64 (and 1e-3 in float32), and is 0/0 at K = 0."""
    return 1e-8 if jnp.finfo(dtype).bits == 64 else 1e-3


def high_temperature_log_z(num_rows: int, num_cols: int, coupling):
    """log Z = mn log 2 + 2mn log cosh K + c₂ t² + c₃ t³ + O(t⁴), t = tanh K, for K of either sign.

    The high-temperature expansion Z = 2^{mn} cosh^{2mn} K Σ_G t^{|G|} over the even subgraphs G
    of the torus' bond multigraph: its 2-bond subgraphs are the parallel pairs of a side of
    length 2 (c₂ = n [m = 2] + m [n = 2]), its 3-bond ones the loops around a side of length 3
    (c₃ = n [m = 3] + m [n = 3]); plaquettes and products of the above are O(t⁴).
    """
    m, n = num_rows, num_cols
    c2 = (n if m == 2 else 0) + (m if n == 2 else 0)
    c3 = (n if m == 3 else 0) + (m if n == 3 else 0)
    t = jnp.tanh(coupling)
    return m * n * _LOG2 + 2 * m * n * jnp.log(jnp.cosh(coupling)) + c2 * t**2 + c3 * t**3


@partial(jax.jit, static_argnums=(0, 1))
def kaufman_log_z(num_rows: int, num_cols: int, coupling):
    """log Z of the m × n periodic Ising torus at zero field, for a coupling K = βJ of either sign.

    K > 0: Kaufman's formula. K < 0 on a torus whose sides are both even: Z(K) = Z(|K|), by
    flipping the spins of one checkerboard sublattice (every bond changes sign). |K| below
    `small_coupling_threshold`: `high_temperature_log_z` (exact to rounding there, and
    smooth through K = 0). K < 0 with an odd side (a frustrated torus): NaN, as Kaufman's formula
    does not apply; callers with a concrete K < 0 pick another route.

    Args:
        num_rows: m (static), every side ≥ 2.
        num_cols: n (static).
        coupling: K = βJ, a scalar (may be traced; differentiable to any order).

    Returns:
        log Z as a scalar array.
    """
    K = jnp.asarray(coupling, dtype=jnp.result_type(coupling, float))
    even = num_rows % 2 == 0 and num_cols % 2 == 0
    small = jnp.abs(K) < small_coupling_threshold(K.dtype)
    k_pos = jnp.abs(K) if even else K
    usable = ~small & (k_pos > 0)
    ferro = _ferromagnet_log_z(num_rows, num_cols, _where_safe(usable, k_pos, 1.0))
    series = high_temperature_log_z(num_rows, num_cols, _where_safe(small, K, 0.0))
    return jnp.where(small, series, jnp.where(usable, ferro, jnp.nan))
