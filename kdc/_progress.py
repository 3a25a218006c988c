"""Progress of long stages: ``[kdc]`` lines on stdout, as the estimators print them (private).

Every stage that can take more than a few seconds shows that it runs, unless
``verbose=0``:

- :func:`say`: one line.
- :class:`Stage`: a line when a stage starts and one with its seconds when it
  ends, for a call that cannot report its own steps (UMAP, an export check);
  for a stage that counts its steps (a pass over many rows, chunk by chunk,
  :meth:`Stage.advance`), a line every ``interval`` seconds in between.
- :func:`fit_mixture`: a scikit-learn ``GaussianMixture`` fitted restart by
  restart with a line per restart, to the same result as its own ``fit``.
"""

import time
import warnings

# Seconds between two progress lines of a stage that counts its steps.
INTERVAL = 10.0


def say(message, verbose=1):
    """Print ``[kdc] message`` on stdout when ``verbose``."""
    if verbose:
        print(f"[kdc] {message}", flush=True)


class Stage:
    """A stage's start and end lines, and (with ``total``) its progress in between.

    Use it as a context manager. Nothing more is printed when the block raises.

    Args:
        message: what runs, e.g. ``"UMAP on 70000 rows"``.
        verbose: 0 prints nothing.
        total: the number of steps (rows), or None when it is not known.
        unit: the name of a step in the progress lines.
        quiet_for: seconds during which nothing is printed: a stage that ends
            sooner shows no lines at all (for passes that are long only on large
            data). For stages that count their steps: the first progress line
            comes at a call of :meth:`advance` after that time.
        interval: seconds between two progress lines.

    Example:
        >>> with Stage("UMAP on 70000 rows", verbose):
        ...     m = manifold.fit_transform(z)
        >>> with Stage("embedding", verbose, total=n, quiet_for=5) as stage:
        ...     parts = [stage.advance(encode(chunk), len(chunk)) for chunk in chunks]
    """

    def __init__(self, message, verbose=1, *, total=None, unit="rows", quiet_for=0.0,
                 interval=INTERVAL):
        self.message, self.verbose, self.total, self.unit = message, verbose, total, unit
        self.quiet_for, self.interval = quiet_for, interval
        self.done, self.note = 0, ""
        self._start = self._last = None
        self._shown = False

    def __enter__(self):
        self._start = self._last = time.perf_counter()
        if not self.quiet_for:
            self._say(f"{self.message} ...")
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and (self._shown or self.elapsed >= self.quiet_for):
            note = f"; {self.note}" if self.note else ""
            self._say(f"{self.message}: done in {self.elapsed:.1f} s{note}")
        return False

    @property
    def elapsed(self):
        """Seconds since the stage started."""
        return time.perf_counter() - self._start

    def advance(self, result=None, steps=1):
        """Count ``steps`` done and print a progress line when one is due; returns ``result``."""
        self.done += steps
        now = time.perf_counter()
        due = (now - self._start >= self.quiet_for) if not self._shown else (
            now - self._last >= self.interval)
        if self.verbose and due and (self.total is None or self.done < self.total):
            self._last = now
            of = "" if self.total is None else f"/{self.total}"
            self._say(f"{self.message}: {self.done}{of} {self.unit}, {self.elapsed:.0f} s")
        return result

    def _say(self, line):
        if self.verbose:
            self._shown = True
            say(line)


def fit_mixture(mixture, x, verbose=1, name="mixture"):
    """Fit a scikit-learn ``GaussianMixture`` restart by restart, with a line per restart.

    The result is the one ``mixture.fit(x)`` gives: the restarts draw from one
    random generator in turn and the best lower bound wins (the first on
    ties), as in scikit-learn's own loop; the fitted attributes are set on
    ``mixture``. A ``ConvergenceWarning`` is raised once, when the best restart
    did not converge, as scikit-learn does.

    Args:
        mixture: an unfitted ``sklearn.mixture.GaussianMixture`` (``warm_start``
            False); its ``n_init`` restarts are run one at a time.
        x: array of shape (n_samples, n_features).
        verbose: 0 prints nothing (then this is ``mixture.fit(x)``).
        name: what the lines call the mixture.

    Returns:
        ``mixture``, fitted.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils import check_random_state

    n_init = int(mixture.n_init)
    if not verbose or n_init == 1 or mixture.warm_start:
        return mixture.fit(x)
    rng = check_random_state(mixture.random_state)
    best = None
    start = time.perf_counter()
    for i in range(n_init):
        one = clone(mixture).set_params(n_init=1, random_state=rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            one.fit(x)
        if best is None or one.lower_bound_ > best.lower_bound_:
            best = one
        say(f"{name} restart {i + 1}/{n_init}: lower bound {one.lower_bound_:.6g} after "
            f"{one.n_iter_} iterations" + ("" if one.converged_ else " (not converged)")
            + f", {time.perf_counter() - start:.1f} s", verbose)
    for key, value in vars(best).items():
        if key.endswith("_") and not key.startswith("_"):
            setattr(mixture, key, value)
    if not best.converged_ and mixture.max_iter > 0:
        warnings.warn(
            "Best performing initialization did not converge. Try different init parameters, "
            "or increase max_iter, tol, or check for degenerate data.", ConvergenceWarning,
            stacklevel=2)
    return mixture
