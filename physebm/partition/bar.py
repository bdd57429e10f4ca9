"""Bennett acceptance ratio (BAR) and multistate BAR (MBAR), in JAX.

Conventions are those of pymbar. Free energies are *reduced* (dimensionless): for a state with
unnormalised density exp(−u(x)), f = −log Z. At inverse temperature β with energy E,
u(x) = β E(x) and f = −log Z(β).

BAR (Bennett 1976; Shirts et al. 2003). Forward work w_F = u_1(x) − u_0(x) for x ~ p_0 and
reverse work w_R = u_0(x) − u_1(x) for x ~ p_1. With M = log(N_F / N_R), ΔF = f_1 − f_0 solves

    Σ_F σ(ΔF − M − w_F) = Σ_R σ(M − ΔF − w_R)        (σ the logistic function)

and its asymptotic variance is

    δ²ΔF = (⟨f_F²⟩/⟨f_F⟩² − 1)/N_F + (⟨f_R²⟩/⟨f_R⟩² − 1)/N_R,
    f_F = σ(−(w_F + M − ΔF)),  f_R = σ(−(w_R − M + ΔF)).

MBAR (Shirts & Chodera 2008). Given the reduced potentials u_kn = u_k(x_n) of all N pooled
samples in all K states, N_k of them drawn from state k, the f_k solve

    f_i = −log Σ_n exp(−u_in) / Σ_k N_k exp(f_k − u_kn),

found here by Newton's method on the convex function (gauge f_0 = 0)

    L(f) = Σ_n logsumexp_k(log N_k + f_k − u_kn) − Σ_k N_k f_k.

Their asymptotic covariance is Θ = V Σ (I − Σ Vᵀ N V Σ)⁺ Σ Vᵀ with W = U Σ Vᵀ the thin SVD of
the weight matrix W_nk = exp(f_k − u_kn) / Σ_j N_j exp(f_j − u_jn), and
δ²(f_j − f_i) = Θ_ii + Θ_jj − 2Θ_ij (pymbar's default "svd-ew" route; Σ and V are taken from
the eigendecomposition of the K × K matrix WᵀW = V Σ² Vᵀ, so nothing of size N × N or an SVD of
the N × K weights is formed).

Cost: 20 self-consistent iterations, then Newton iterations of about two passes over the
K × N matrix each, stopping at convergence (a few iterations), one compilation per shape.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from physebm.partition import weights
from physebm.partition.result import LogZ
from physebm.validation import check_beta

__all__ = ["bar", "bar_log_z_ratio", "mbar", "mbar_log_z"]

BAR_STDERR_SOURCE = "asymptotic (Bennett 1976, Eq. 10a; pymbar uncertainty_method='BAR')"
MBAR_STDERR_SOURCE = "asymptotic covariance (Shirts & Chodera 2008; pymbar 'svd-ew')"
MIN_RELIABLE_SAMPLES = 10
"""Fewer work values than this in either BAR direction: the asymptotic stderr is flagged."""
MAX_GRADIENT_NORM = 1e-6
"""MBAR is flagged as unconverged when max |∂L/∂f| exceeds this times the number of samples."""


def _as_work(w, name: str) -> jax.Array:
    w = jnp.asarray(w, dtype=jnp.result_type(float))
    if w.ndim != 1 or w.shape[0] < 1:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of reduced work values, got {w.shape}"
        )
    if bool(jnp.any(jnp.isnan(w))):
        raise ValueError(f"{name} contains NaN reduced work values; drop or fix them first")
    return w


@jax.jit
def _bar_solve(w_F, w_R):
    n_f, n_r = w_F.shape[0], w_R.shape[0]
    m = jnp.log(n_f / n_r)

    def g(df):  # increasing in df; root is the BAR estimate
        return logsumexp(jax.nn.log_sigmoid(df - m - w_F)) - logsumexp(
            jax.nn.log_sigmoid(m - df - w_R)
        )

    # Bracket from the one-sided (exponential averaging) estimates, widened until it brackets.
    df_f = -(logsumexp(-w_F) - jnp.log(n_f))
    df_r = logsumexp(-w_R) - jnp.log(n_r)
    lo0 = jnp.minimum(df_f, df_r) - 1.0
    hi0 = jnp.maximum(df_f, df_r) + 1.0

    def widen(c):
        lo, hi, i = c
        width = hi - lo
        lo = jnp.where(g(lo) > 0, lo - width, lo)
        hi = jnp.where(g(hi) < 0, hi + width, hi)
        return lo, hi, i + 1

    lo, hi, _ = jax.lax.while_loop(
        lambda c: ((g(c[0]) > 0) | (g(c[1]) < 0)) & (c[2] < 60), widen, (lo0, hi0, 0)
    )

    def bisect(c):
        lo, hi, i = c
        mid = 0.5 * (lo + hi)
        neg = g(mid) < 0
        return jnp.where(neg, mid, lo), jnp.where(neg, hi, mid), i + 1

    tol = 1e-13 * (1.0 + jnp.abs(lo0) + jnp.abs(hi0))
    lo, hi, iters = jax.lax.while_loop(
        lambda c: (c[1] - c[0] > tol) & (c[2] < 200), bisect, (lo, hi, 0)
    )
    df = 0.5 * (lo + hi)

    log_f_f = jax.nn.log_sigmoid(-(w_F + m - df))
    log_f_r = jax.nn.log_sigmoid(-(w_R - m + df))

    # (⟨f²⟩/⟨f⟩² − 1)/n = 1/ESS − 1/n per direction, ESS = (Σf)²/Σf² of the Fermi weights
    ess = (weights.weight_statistics(log_f_f)["ess"], weights.weight_statistics(log_f_r)["ess"])
    var = 1.0 / ess[0] - 1.0 / n_f + 1.0 / ess[1] - 1.0 / n_r
    return df, jnp.sqrt(jnp.maximum(var, 0.0)), iters, ess


def bar(w_F, w_R) -> LogZ:
    """Bennett acceptance ratio on reduced work values (pymbar's ``bar`` convention).

    Solves Σ_F σ(ΔF − M − w_F) = Σ_R σ(M − ΔF − w_R), M = log(N_F/N_R), for ΔF = f_1 − f_0
    by bisection and returns the log ratio log(Z_1/Z_0) = −ΔF with the asymptotic stderr
    δ²ΔF = (⟨f_F²⟩/⟨f_F⟩² − 1)/N_F + (⟨f_R²⟩/⟨f_R⟩² − 1)/N_R (module docstring).

    Args:
        w_F: forward reduced work u_1(x) − u_0(x) for samples x ~ p_0, shape (N_F,).
        w_R: reverse reduced work u_0(x) − u_1(x) for samples x ~ p_1, shape (N_R,).

    Returns:
        [`LogZ`][] (method ``"bar"``): ``log_z`` = log(Z_1/Z_0), ``stderr`` its asymptotic
        standard error (Bennett's Eq. 10a, pymbar's ``uncertainty_method="BAR"``), no bounds;
        ``info``: ``delta_f`` (= −log_z), ``num_iterations``, ``num_samples`` (N_F, N_R),
        ``quantity``, ``stderr_source``. ``warnings`` flag fewer than
        `MIN_RELIABLE_SAMPLES` work values in a direction or a non-finite stderr.

    Raises:
        ValueError: empty, non-1-D, or NaN work values.
    """
    w_F, w_R = _as_work(w_F, "w_F"), _as_work(w_R, "w_R")
    df, se, iters, _ = _bar_solve(w_F, w_R)
    n_f, n_r = int(w_F.shape[0]), int(w_R.shape[0])
    warns = [
        f"only {n} {name} work values: the asymptotic stderr is not trustworthy"
        for n, name in ((n_f, "forward"), (n_r, "reverse"))
        if n < MIN_RELIABLE_SAMPLES
    ]
    warns += _nonfinite_warnings(df, se)
    return LogZ(
        log_z=-df,
        stderr=se,
        method="bar",
        warnings=warns,
        info={
            "delta_f": df,
            "num_iterations": iters,
            "num_samples": (n_f, n_r),
            "quantity": "log(Z_1/Z_0)",
            "stderr_source": BAR_STDERR_SOURCE,
        },
    )


def _nonfinite_warnings(estimate, stderr) -> list[str]:
    out = []
    if not bool(jnp.all(jnp.isfinite(estimate))):
        out.append("the estimate is not finite: the work values overflow or do not overlap")
    elif not bool(jnp.all(jnp.isfinite(stderr))):
        out.append("the stderr is not finite: the two states barely overlap")
    return out


def bar_log_z_ratio(energy_fn: Callable, beta_0, beta_1, samples_0, samples_1) -> LogZ:
    """log Z(β_1) − log Z(β_0) by BAR from samples of p_{β_0} and p_{β_1} of one energy.

    Reduced work: w_F = (β_1 − β_0) E(x) for x ~ p_{β_0}, w_R = (β_0 − β_1) E(x) for x ~ p_{β_1};
    then [`bar`][].

    Args:
        energy_fn: ``x -> E(x)`` for one configuration (a model or function).
        beta_0, beta_1: the two inverse temperatures.
        samples_0, samples_1: batches (leading axis) of equilibrium samples at β_0 and β_1.

    Returns:
        [`LogZ`][] holding the *difference* log Z(β_1) − log Z(β_0) (method ``"bar"``,
        ``info`` as [`bar`][]'s plus ``betas`` = (β_0, β_1)).
    """
    beta_0 = check_beta(beta_0, "beta_0", scalar=True)
    beta_1 = check_beta(beta_1, "beta_1", scalar=True)
    e0 = jax.vmap(energy_fn)(samples_0)
    e1 = jax.vmap(energy_fn)(samples_1)
    res = bar((beta_1 - beta_0) * e0, (beta_0 - beta_1) * e1)
    return res.replace(info={"betas": (beta_0, beta_1)})


def _mbar_arrays(u_kn, N_k):
    u_kn = jnp.asarray(u_kn, dtype=jnp.result_type(float))
    if u_kn.ndim != 2:
        raise ValueError(f"u_kn must be a (K, N) matrix of reduced potentials, got {u_kn.shape}")
    N_k = np.asarray(N_k)
    if N_k.ndim != 1 or N_k.shape[0] != u_kn.shape[0]:
        raise ValueError(f"N_k must have shape ({u_kn.shape[0]},) to match u_kn, got {N_k.shape}")
    if np.any(N_k < 0) or not np.all(np.equal(np.round(N_k), N_k)):
        raise ValueError(f"N_k must be non-negative sample counts, got {N_k}")
    if int(N_k.sum()) != u_kn.shape[1]:
        raise ValueError(
            f"sum(N_k) = {int(N_k.sum())} must equal the N = {u_kn.shape[1]} columns of u_kn"
        )
    has_nan, unsupported = _bad_rows(u_kn)
    if bool(has_nan):
        raise ValueError("u_kn contains NaN reduced potentials")
    if bool(jnp.any(unsupported)):
        rows = np.flatnonzero(np.asarray(unsupported)).tolist()
        raise ValueError(
            f"u_kn rows {rows} are +inf for every sample: no sample has support in those "
            "states, so their log(Z_k/Z_0) cannot be estimated (-inf); drop them, or add "
            "samples they give finite potential to"
        )
    if N_k[0] == 0:
        raise ValueError("N_k[0] must be > 0: state 0 is the reference (gauge f_0 = 0)")
    return u_kn, jnp.asarray(N_k, dtype=u_kn.dtype)


@jax.jit
def _bad_rows(u_kn):
    """(any NaN in u_kn, per state k: u_kn = +inf for every n), in one fused pass."""
    return jnp.any(jnp.isnan(u_kn)), jnp.all(jnp.isposinf(u_kn), axis=1)


def _log_denominators(f, log_n, u_kn):
    """log Σ_k N_k exp(f_k − u_kn) for every sample n."""
    return logsumexp(log_n[:, None] + f[:, None] - u_kn, axis=0)


def _self_consistent(log_denom, u_kn):
    """f_i = −log Σ_n exp(−u_in − log_denom_n), gauged to f_0 = 0 (the MBAR equations' map)."""
    f = -logsumexp(-u_kn - log_denom[None, :], axis=1)
    return f - f[0]


def _line_search(objective, f, value, step):
    """The largest 2⁻ʲ step (j = 0..11) from f along −step that does not raise L beyond
    rounding: ``(accepted, f', L(f'), log-denominators at f')`` (f' the last trial when none
    is accepted)."""

    def trial(j):
        cand = f - 0.5**j * step
        return (j, cand, *objective(cand))

    def worse(c):
        return (c[0] < 11) & ~_no_rise(c[2], value)

    _, cand, v, log_denom = jax.lax.while_loop(worse, lambda c: trial(c[0] + 1), trial(0))
    return _no_rise(v, value), cand, v, log_denom


def _no_rise(v, value):
    return v <= value + 1e-12 * (1.0 + jnp.abs(value))


def _newton(u_kn, N_k, log_n, f, num_iterations: int):
    """Damped Newton on L(f) = Σ_n log_denom_n(f) − Σ_k N_k f_k over f_1..f_{K−1} (f_0 = 0).

    With p_kn = exp(log N_k + f_k − u_kn − log_denom_n): ∂L/∂f_k = Σ_n p_kn − N_k and
    ∂²L/∂f_k∂f_l = δ_kl Σ_n p_kn − Σ_n p_kn p_ln. Each iteration costs one pass over u_kn per
    line-search trial (`_line_search`; the first, full step is accepted near the optimum)
    and one for the next gradient. It stops after ``num_iterations``, when no step lowers L, or
    when the step taken is below 0.01 √ε (then the error left is ≈ its square).
    """
    K = u_kn.shape[0]
    tol = 0.01 * jnp.sqrt(jnp.finfo(u_kn.dtype).eps)

    def objective(f):
        log_denom = _log_denominators(f, log_n, u_kn)
        return jnp.sum(log_denom) - N_k @ f, log_denom

    def body(c):
        i, f, value, log_denom, _ = c
        p = jnp.exp(log_n[:, None] + f[:, None] - u_kn - log_denom[None, :])
        occupancy = jnp.sum(p, axis=1)
        hess = jnp.diag(occupancy) - p @ p.T
        step = jnp.linalg.solve(hess[1:, 1:] + 1e-14 * jnp.eye(K - 1), (occupancy - N_k)[1:])
        step = jnp.concatenate([jnp.zeros(1, f.dtype), step])
        ok, cand, v, ld = _line_search(objective, f, value, step)
        done = ~ok | (jnp.max(jnp.abs(cand - f)) <= tol)
        f, value = jnp.where(ok, cand, f), jnp.where(ok, v, value)
        return i + 1, f, value, jnp.where(ok, ld, log_denom), done

    init = (0, f, *objective(f), jnp.asarray(K < 2))
    _, f, _, log_denom, _ = jax.lax.while_loop(
        lambda c: (c[0] < num_iterations) & ~c[-1], body, init
    )
    return f, log_denom


def _covariance(W, N_k):
    """pymbar's "svd-ew" Θ = V Σ (I − Σ Vᵀ diag(N) V Σ)⁺ Σ Vᵀ, W = U Σ Vᵀ (N × K weights). It
    depends on W only through WᵀW = V Σ² Vᵀ, so Σ and V come from the eigendecomposition of the
    K × K Gram matrix instead of an SVD of W."""
    s2, v = jnp.linalg.eigh(W.T @ W)
    sig = jnp.diag(jnp.sqrt(jnp.maximum(s2, 0.0)))
    K = N_k.shape[0]
    inner = jnp.eye(K) - sig @ v.T @ jnp.diag(N_k) @ v @ sig
    return v @ sig @ jnp.linalg.pinv(inner, hermitian=True) @ sig @ v.T


@eqx.filter_jit
def _mbar_solve(u_kn, N_k, num_iterations: int):
    log_n = jnp.where(N_k > 0, jnp.log(jnp.where(N_k > 0, N_k, 1.0)), -jnp.inf)

    def self_consistent(f, _):
        return _self_consistent(_log_denominators(f, log_n, u_kn), u_kn), None

    f, _ = jax.lax.scan(self_consistent, jnp.zeros(u_kn.shape[0], u_kn.dtype), None, length=20)
    f, log_denom = _newton(u_kn, N_k, log_n, f, num_iterations)
    f = _self_consistent(log_denom, u_kn)  # also places the states without samples
    log_denom = _log_denominators(f, log_n, u_kn)
    log_w = (f[:, None] - u_kn - log_denom[None, :]).T  # (N, K)
    W = jnp.exp(log_w)
    gnorm = jnp.max(jnp.abs(N_k * jnp.sum(W, axis=0) - N_k))  # max |∂L/∂f_k|
    theta = _covariance(W, N_k)
    d = jnp.diag(theta)
    var = d[:, None] + d[None, :] - 2 * theta
    return {
        "f": f,
        "delta_f": f[None, :] - f[:, None],
        "delta_f_stderr": jnp.sqrt(jnp.maximum(var, 0.0)),
        "theta": theta,
        "log_weight_matrix": log_w,
        "gradient_norm": gnorm,
    }


def mbar(u_kn, N_k, *, num_iterations: int = 50) -> LogZ:
    """Multistate Bennett acceptance ratio on the reduced-potential matrix (pymbar convention).

    Solves the MBAR equations f_i = −log Σ_n exp(−u_in) / Σ_k N_k exp(f_k − u_kn) with f_0 = 0
    (Newton's method on the convex L(f) of the module docstring) and returns
    log(Z_k/Z_0) = −f_k with the asymptotic errors δ(f_k − f_0) = √(Θ_00 + Θ_kk − 2Θ_0k).

    Args:
        u_kn: (K, N) reduced potentials u_k(x_n) of every pooled sample in every state.
        N_k: (K,) number of samples drawn from each state (they sum to N; the samples of
            state 0 need not come first — only the counts matter).
        num_iterations: at most this many Newton iterations after 20 self-consistent ones
            (Newton stops earlier once its step is below 0.01 √ε of the float type).

    Returns:
        [`LogZ`][] (method ``"mbar"``) whose ``log_z`` is the (K,) array log(Z_k/Z_0)
        (``log_z[0] = 0``) and ``stderr`` the (K,) asymptotic errors relative to state 0; no
        bounds. ``info``: ``f`` (reduced free energies, = −log_z), ``delta_f`` (K, K)
        Δf_ij = f_j − f_i, ``delta_f_stderr`` (K, K), ``theta`` (K, K) covariance Θ of the f_k,
        ``log_weight_matrix`` (N, K) log W_nk (each column sums to one in probability space),
        ``gradient_norm`` max |∂L/∂f| (≈ 0 when converged), ``N_k``, ``quantity``,
        ``stderr_source``. ``warnings`` flag an unconverged solve or non-finite errors.

    Raises:
        ValueError: shapes disagree, counts are not non-negative integers summing to N,
            N_0 = 0, NaN potentials, or a state whose potentials are all +inf (no sample has
            support in it: its log Z ratio would be −inf and would turn every f_k into NaN).
    """
    u_kn, N_k = _mbar_arrays(u_kn, N_k)
    if (
        isinstance(num_iterations, bool)
        or not isinstance(num_iterations, int)
        or num_iterations < 1
    ):
        raise ValueError(f"num_iterations must be a positive integer, got {num_iterations!r}")
    sol = _mbar_solve(u_kn, N_k, num_iterations)
    log_z, stderr = -sol["f"], sol["delta_f_stderr"][0]
    warns = _nonfinite_warnings(log_z, stderr)
    gnorm, n = float(sol["gradient_norm"]), u_kn.shape[1]
    if not gnorm <= MAX_GRADIENT_NORM * n:
        warns.append(
            f"MBAR did not converge: max |dL/df| = {gnorm:.3g} > {MAX_GRADIENT_NORM:g} N "
            "(raise num_iterations, or check that the states overlap)"
        )
    info = dict(sol, N_k=np.asarray(N_k, dtype=int), quantity="log(Z_k/Z_0)")
    info["stderr_source"] = MBAR_STDERR_SOURCE
    return LogZ(
        log_z=log_z,
        stderr=stderr,
        lower=jnp.full_like(log_z, -jnp.inf),
        upper=jnp.full_like(log_z, jnp.inf),
        method="mbar",
        warnings=warns,
        info=info,
    )


def mbar_log_z(energy_fn: Callable, betas, samples, *, log_z_0=0.0) -> LogZ:
    """log Z(β_k) for a ladder of inverse temperatures by MBAR, from samples at each β_k.

    The reduced potentials are u_kn = β_k E(x_n) over all pooled samples; then [`mbar`][],
    and log Z(β_k) = log_z_0 + log(Z_k/Z_0).

    Args:
        energy_fn: ``x -> E(x)`` for one configuration.
        betas: (K,) inverse temperatures.
        samples: a sequence of K batches (leading axis = samples) of equilibrium samples,
            the k-th drawn at β_k (batches may have different sizes, 0 allowed except for k = 0).
        log_z_0: a known log Z(β_0) (e.g. an exact value), added to every estimate; its
            stderr is taken as 0. With the default 0 the result is log Z(β_k) − log Z(β_0).

    Returns:
        [`LogZ`][] (method ``"mbar"``) with (K,) arrays ``log_z`` and ``stderr`` (relative
        to state 0), ``info`` as [`mbar`][]'s plus ``betas`` and ``log_z_0``.
    """
    betas = check_beta(jnp.asarray(betas, dtype=float), "betas")
    if betas.ndim != 1:
        raise ValueError(f"betas must be a 1-D array of inverse temperatures, got {betas.shape}")
    if len(samples) != betas.shape[0]:
        raise ValueError(
            f"samples must hold one batch per inverse temperature ({betas.shape[0]}), "
            f"got {len(samples)}"
        )
    energies = [
        jax.vmap(energy_fn)(s) if jax.tree.leaves(s)[0].shape[0] else jnp.zeros(0) for s in samples
    ]
    N_k = np.array([e.shape[0] for e in energies])
    e_all = jnp.concatenate(energies)
    res = mbar(betas[:, None] * e_all[None, :], N_k)
    quantity = "log Z(beta_k)" if log_z_0 != 0.0 else "log Z(beta_k) - log Z(beta_0)"
    return res.replace(
        log_z=log_z_0 + res.log_z,
        info={"betas": betas, "log_z_0": log_z_0, "quantity": quantity},
    )
