"""Helpers of the partition-function tests (``import partition_testlib``).

Statistical tolerance convention: an estimate passes when |estimate − exact| ≤ 3 stderr,
a two-sided false-failure rate of 0.27 % per check for a calibrated Gaussian estimator; every
test uses a fixed key, so a pass is reproducible.
"""

Z_TOL = 3.0  # number of standard errors


def within(est, exact, num_sigma=Z_TOL):
    """|log_z − exact| ≤ num_sigma · stderr, with a message that shows the z-score."""
    err = float(est.log_z) - float(exact)
    se = float(est.stderr)
    assert se > 0, f"{est.method}: stderr must be positive, got {se}"
    assert abs(err) <= num_sigma * se, (
        f"{est.method}: estimate {float(est.log_z):.6f} vs exact {float(exact):.6f}, "
        f"error {err:.3g} = {err / se:.2f} stderr (stderr {se:.3g})"
    )
