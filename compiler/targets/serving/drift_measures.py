"""modelkiln's drift measures: how far a feature's recent inputs are from its reference data.

Shipped next to drift_job.py in the drift job's ConfigMap; imports only the standard
library and numpy. Numeric features: PSI, Kolmogorov–Smirnov or Wasserstein; categorical
features (string or bool columns): PSI over the categories.
"""

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# A sample: an array or a sequence of numbers, NaN and None among them (they are dropped).
Sample = npt.ArrayLike | Sequence[float | None]

EPSILON = 1e-6  # the floor of a PSI bin's proportion, so an empty bin doesn't divide by zero


def _sample(values: Sample, name: str) -> FloatArray:
    """The sample as a 1-D float64 array without NaN (None becomes NaN); never empty."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"the {name} sample must be 1-D, not {array.ndim}-D")
    array = array[~np.isnan(array)]
    if array.size == 0:
        raise ValueError(f"the {name} sample is empty (no values besides NaN/None)")
    return array


def psi(reference: Sample, current: Sample, bins: int = 10) -> float:
    """Population Stability Index of current against reference.

    The bin edges are the reference's quantiles (deduplicated, outer edges -inf and +inf);
    PSI = sum((c - r) * ln(c / r)) over the bins' proportions, each floored at EPSILON.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    ref = _sample(reference, "reference")
    cur = _sample(current, "current")
    inner = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    # Bin i holds [edge_i, edge_i+1), with edge_0 = -inf and the last edge +inf.
    ref_counts = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=inner.size + 1)
    cur_counts = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=inner.size + 1)
    r = np.maximum(ref_counts / ref.size, EPSILON)
    c = np.maximum(cur_counts / cur.size, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def _cdfs(
    reference: Sample, current: Sample, drop_last: bool
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The sorted pooled points and both empirical CDFs evaluated at them."""
    ref = np.sort(_sample(reference, "reference"))
    cur = np.sort(_sample(current, "current"))
    points = np.sort(np.concatenate([ref, cur]))
    at = points[:-1] if drop_last else points
    f_ref = np.searchsorted(ref, at, side="right") / ref.size
    f_cur = np.searchsorted(cur, at, side="right") / cur.size
    return points, f_ref, f_cur


def ks(reference: Sample, current: Sample) -> float:
    """Two-sample Kolmogorov–Smirnov statistic D = max |F_ref(x) - F_cur(x)| (exact)."""
    _, f_ref, f_cur = _cdfs(reference, current, drop_last=False)
    return float(np.max(np.abs(f_ref - f_cur)))


def wasserstein(reference: Sample, current: Sample) -> float:
    """1-Wasserstein distance between the two empirical distributions: ∫ |F_ref - F_cur| dx."""
    points, f_ref, f_cur = _cdfs(reference, current, drop_last=True)
    return float(np.sum(np.abs(f_ref - f_cur) * np.diff(points)))


METHODS: dict[str, Callable[[Sample, Sample], float]] = {
    "psi": psi,
    "ks": ks,
    "wasserstein": wasserstein,
}


def psi_categorical(reference: Sequence[str | None], current: Sequence[str | None]) -> float:
    """Population Stability Index over categories: one bin per value seen on either side
    (None is dropped), PSI = sum((c - r) * ln(c / r)), proportions floored at EPSILON."""
    ref = Counter(v for v in reference if v is not None)
    cur = Counter(v for v in current if v is not None)
    for counts, name in ((ref, "reference"), (cur, "current")):
        if not counts:
            raise ValueError(f"the {name} sample is empty (no values besides null)")
    categories = sorted(ref.keys() | cur.keys())
    r = np.maximum(np.array([ref[c] for c in categories]) / ref.total(), EPSILON)
    c = np.maximum(np.array([cur[k] for k in categories]) / cur.total(), EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))
