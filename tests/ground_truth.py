"""Independent reference values for tests, in plain numpy/scipy (float64, no JAX).

Nothing here imports physebm: each function is a separate, deliberately simple implementation
(brute-force enumeration, dense transfer matrices diagonalised by LAPACK, closed forms,
numerical quadrature) against which the library is checked.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import integrate, optimize
from scipy.special import logsumexp

BETA_C = 0.5 * np.log(1.0 + np.sqrt(2.0))
CATALAN = 0.915965594177219015054603514932384110774


# ----------------------------------------------------------------------------- enumeration


def all_spins(n: int) -> np.ndarray:
    """All 2^n configurations of n spins ±1, shape (2^n, n), via itertools.product."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n)))


def all_bits(n: int) -> np.ndarray:
    """All 2^n configurations of n bits {0, 1}, shape (2^n, n)."""
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def log_z_from_energies(energies, beta: float) -> float:
    """log Σ_x exp(−β E(x)) over a list of energies of all states."""
    return float(logsumexp(-beta * np.asarray(energies)))


def lattice_bonds(shape: tuple[int, ...], periodic: bool) -> list[tuple[int, int]]:
    """Nearest-neighbour bonds (i, j) of a chain or grid, sites numbered row-major.

    With periodic boundaries each site bonds to its right (and lower) neighbour modulo the side,
    so a side of length 2 gives two bonds between the same pair.
    """
    if len(shape) == 1:
        (n,) = shape
        last = n if periodic else n - 1
        return [(i, (i + 1) % n) for i in range(last)]
    rows, cols = shape
    bonds = []
    for r in range(rows):
        for c in range(cols):
            here = r * cols + c
            if periodic or c + 1 < cols:
                bonds.append((here, r * cols + (c + 1) % cols))
            if periodic or r + 1 < rows:
                bonds.append((here, ((r + 1) % rows) * cols + c))
    return bonds


def ising_energies(shape, J: float = 1.0, h: float = 0.0, periodic: bool = True) -> np.ndarray:
    """E(s) = −J Σ_bonds s_i s_j − h Σ s_i for every configuration, shape (2^n,)."""
    n = int(np.prod(shape))
    s = all_spins(n)
    bonds = np.array(lattice_bonds(tuple(shape), periodic))
    return -J * np.sum(s[:, bonds[:, 0]] * s[:, bonds[:, 1]], axis=1) - h * np.sum(s, axis=1)


def ising_log_z_brute(shape, beta, J=1.0, h=0.0, periodic=True) -> float:
    """log Z of the Ising model by summing over all 2^n states."""
    return log_z_from_energies(ising_energies(shape, J, h, periodic), beta)


def boltzmann_energies(W, b, domain: str) -> np.ndarray:
    """E(x) = −½ xᵀWx − bᵀx for all x (spins ±1 or bits {0, 1}), shape (2^n,)."""
    W, b = np.asarray(W, float), np.asarray(b, float)
    x = all_spins(len(b)) if domain == "spin" else all_bits(len(b))
    return -0.5 * np.einsum("ki,ij,kj->k", x, W, x) - x @ b


def rbm_joint_log_z(W, b, c, beta) -> float:
    """log Σ_{v,h} exp(−β E(v, h)), E = −bᵀv − cᵀh − vᵀWh, over all joint bit states."""
    W = np.asarray(W, float)
    v, h = all_bits(W.shape[0]), all_bits(W.shape[1])
    energies = -(v @ b)[:, None] - (h @ c)[None, :] - v @ W @ h.T
    return log_z_from_energies(energies.ravel(), beta)


def curie_weiss_log_z_brute(N, beta, J=1.0, h=0.0) -> float:
    """log Z of E = −(J/2N) M² − hM by summing over all 2^N spin states."""
    M = np.sum(all_spins(N), axis=1)
    return log_z_from_energies(-(J / (2 * N)) * M**2 - h * M, beta)


# ----------------------------------------------------------------------------- closed forms


def chain_log_z_closed_form(N, beta, J=1.0, h=0.0, periodic=True) -> float:
    """Ising chain from the eigen-decomposition of T(s,s') = exp(K ss' + H(s+s')/2).

    Periodic: Z = λ₊^N + λ₋^N with λ± = e^K cosh H ± √(e^{2K} sinh² H + e^{−2K}).
    Free: Z = Σ_± (u·e_±)² λ±^{N−1} with u(s) = e^{Hs/2} and e_± the eigenvectors.
    """
    K, H = beta * J, beta * h
    root = np.sqrt(np.exp(2 * K) * np.sinh(H) ** 2 + np.exp(-2 * K))
    lam_p = np.exp(K) * np.cosh(H) + root
    lam_m = np.exp(K) * np.cosh(H) - root
    if periodic:
        r = lam_m / lam_p
        return float(N * np.log(lam_p) + np.log1p(np.sign(r) ** N * np.abs(r) ** N))
    T = np.array([[np.exp(K + H), np.exp(-K)], [np.exp(-K), np.exp(K - H)]])
    lam, vec = np.linalg.eigh(T)
    u = np.exp(np.array([H, -H]) / 2)
    w = (u @ vec) ** 2
    top = np.argmax(lam)
    ratio = lam / lam[top]
    return float(
        (N - 1) * np.log(lam[top])
        + np.log(np.sum(w * np.sign(ratio) ** (N - 1) * np.abs(ratio) ** (N - 1)))
    )


def row_transfer_log_z(shape, beta, J=1.0, h=0.0, periodic=True) -> float:
    """Ising lattice (M, N) by a dense 2^N × 2^N row-to-row transfer matrix (rows of length N).

    T(s, s') = exp(β[½E_row(s) + ½E_row(s') + J s·s']), with E_row the in-row bonds and field.
    Periodic: Z = Σ_i λ_i^M (eigvalsh). Free: Z = aᵀ T^{M−1} a with a = exp(β E_row / 2).
    """
    M, N = shape
    s = all_spins(N)
    in_row = np.array(lattice_bonds((N,), periodic))
    e_row = J * np.sum(s[:, in_row[:, 0]] * s[:, in_row[:, 1]], axis=1) + h * np.sum(s, axis=1)
    log_t = beta * (0.5 * e_row[:, None] + 0.5 * e_row[None, :] + J * s @ s.T)
    shift = log_t.max()
    T = np.exp(log_t - shift)
    if periodic:
        lam = np.linalg.eigvalsh(T)
        lam_max = lam.max()
        return float(M * (shift + np.log(lam_max)) + np.log(np.sum((lam / lam_max) ** M)))
    lam, vec = np.linalg.eigh(T)
    lam_max = lam.max()
    a = np.exp(beta * e_row / 2 - beta * e_row.max() / 2)
    w = (a @ vec) ** 2
    log_sum = np.log(np.sum(w * (lam / lam_max) ** (M - 1)))
    return float((M - 1) * (shift + np.log(lam_max)) + beta * e_row.max() + log_sum)


def onsager_log_z_per_site(beta, J=1.0) -> float:
    """Infinite square lattice: lim log Z / N = ln(2 cosh 2K) + (1/π) ∫₀^{π/2}
    ln[½(1 + √(1 − κ² sin² φ))] dφ with κ = 2 sinh 2K / cosh² 2K (Onsager 1944)."""
    K = beta * J
    kappa = 2 * np.sinh(2 * K) / np.cosh(2 * K) ** 2

    def integrand(phi):
        return np.log(0.5 * (1 + np.sqrt(max(0.0, 1 - (kappa * np.sin(phi)) ** 2))))

    val, _ = integrate.quad(integrand, 0, np.pi / 2, epsabs=1e-14, epsrel=1e-14, limit=200)
    return float(np.log(2 * np.cosh(2 * K)) + val / np.pi)


def critical_torus_universal_log_z() -> float:
    """ln Z of the Ising CFT on the square torus (τ = i): ln[(θ₂ + θ₃ + θ₄) / (2η)].

    At β_c, ln Z(L × L) = L² · onsager_log_z_per_site(β_c) + this constant + O(L⁻²).
    """
    q = np.exp(-np.pi)  # nome e^{iπτ}
    n = np.arange(1, 40)
    theta2 = 2 * np.sum(q ** ((np.arange(40) + 0.5) ** 2))
    theta3 = 1 + 2 * np.sum(q ** (n**2))
    theta4 = 1 + 2 * np.sum((-1.0) ** n * q ** (n**2))
    eta = q ** (1 / 12) * np.prod(1 - q ** (2 * n))
    return float(np.log((theta2 + theta3 + theta4) / (2 * eta)))


def curie_weiss_free_energy_limit(beta, J=1.0, h=0.0) -> float:
    """lim_{N→∞} −(1/(βN)) log Z = min_m [−J m²/2 − h m − H(m)/β], H the binary entropy in
    nats of the spin fraction (1 + m)/2 (Curie–Weiss mean-field theory)."""

    def f(m):
        p = (1 + m) / 2
        entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
        return -J * m**2 / 2 - h * m - entropy / beta

    best = min(
        (
            optimize.minimize_scalar(f, bounds=b, method="bounded", options={"xatol": 1e-13})
            for b in [(-1 + 1e-15, 0.0), (0.0, 1 - 1e-15)]
        ),
        key=lambda r: r.fun,
    )
    return float(best.fun)


def gaussian_log_z_quadrature(mean, precision, beta) -> float:
    """log ∫ exp(−β ½(x−μ)ᵀA(x−μ)) dx by scipy quadrature (d = 1 or 2) over ±12 std devs."""
    mean = np.atleast_1d(np.asarray(mean, float))
    A = np.atleast_2d(np.asarray(precision, float))
    sd = np.sqrt(np.diag(np.linalg.inv(beta * A)))
    lo, hi = mean - 12 * sd, mean + 12 * sd

    def weight(*x):
        d = np.array(x) - mean
        return np.exp(-beta * 0.5 * d @ A @ d)

    if len(mean) == 1:
        val, _ = integrate.quad(weight, lo[0], hi[0], epsabs=0, epsrel=1e-13, limit=200)
    elif len(mean) == 2:
        val, _ = integrate.dblquad(
            lambda y, x: weight(x, y), lo[0], hi[0], lo[1], hi[1], epsabs=0, epsrel=1e-12
        )
    else:
        raise ValueError("gaussian_log_z_quadrature supports d = 1 or 2")
    return float(np.log(val))
