"""Tests of kdc._progress: stage lines, counted progress, a mixture fitted restart by restart."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from kdc import _progress
from kdc._progress import Stage, fit_mixture


class Clock:
    """A stand-in for time.perf_counter that moves only when told."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(_progress.time, "perf_counter", clock)
    return clock


def test_a_stage_says_what_runs_and_how_long_it_took(capsys, clock):
    with Stage("UMAP on 500 rows") as stage:
        clock.now += 12.34
        stage.note = "10 components"
    assert capsys.readouterr().out.splitlines() == [
        "[kdc] UMAP on 500 rows ...", "[kdc] UMAP on 500 rows: done in 12.3 s; 10 components"]
    with Stage("UMAP on 500 rows", verbose=0):
        clock.now += 1
    assert capsys.readouterr().out == ""


def test_a_stage_that_fails_prints_no_done_line(capsys, clock):
    with pytest.raises(RuntimeError), Stage("exporting"):
        raise RuntimeError("boom")
    assert capsys.readouterr().out.splitlines() == ["[kdc] exporting ..."]


def test_a_counted_stage_is_silent_when_short_and_reports_progress_when_long(capsys, clock):
    with Stage("embedding 300 rows", total=300, quiet_for=5, interval=10) as stage:
        for _ in range(3):
            clock.now += 1
            assert stage.advance("chunk", 100) == "chunk"  # passes the result through
    assert capsys.readouterr().out == ""  # 3 s < quiet_for
    with Stage("embedding 600 rows", total=600, quiet_for=5, interval=10) as stage:
        for _ in range(6):
            clock.now += 4  # a line once 5 s have passed, then one every 10 s
            stage.advance(steps=100)
    assert capsys.readouterr().out.splitlines() == [
        "[kdc] embedding 600 rows: 200/600 rows, 8 s",
        "[kdc] embedding 600 rows: 500/600 rows, 20 s",
        "[kdc] embedding 600 rows: done in 24.0 s"]
    with Stage("embedding", quiet_for=5, interval=5) as stage:  # rows not known in advance
        for _ in range(2):
            clock.now += 6
            stage.advance(steps=100)
    assert capsys.readouterr().out.splitlines() == [
        "[kdc] embedding: 100 rows, 6 s", "[kdc] embedding: 200 rows, 12 s",
        "[kdc] embedding: done in 12.0 s"]


def test_a_long_single_step_still_gets_its_done_line(capsys, clock):
    with Stage("embedding 100 rows", total=100, quiet_for=5) as stage:
        clock.now += 7
        stage.advance(steps=100)  # the last step: no progress line, the done line follows
    assert capsys.readouterr().out.splitlines() == ["[kdc] embedding 100 rows: done in 7.0 s"]


@pytest.fixture(scope="module")
def three_blobs():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(c, 1.0, (60, 2)) for c in (0.0, 4.0, 8.0)])


@pytest.mark.parametrize("random_state", [0, 5, np.random.RandomState(3)])
def test_fit_mixture_gives_what_fit_gives_with_a_line_per_restart(three_blobs, capsys,
                                                                   random_state):
    def mixture():
        rs = random_state
        if isinstance(rs, np.random.RandomState):  # a fresh generator in the same state
            rs = np.random.RandomState(3)
        return GaussianMixture(3, n_init=4, init_params="random", max_iter=20, random_state=rs)

    expected = mixture().fit(three_blobs)
    fitted = fit_mixture(mixture(), three_blobs, verbose=1, name="GMM")
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(fitted, attribute), getattr(expected, attribute))
    assert (fitted.lower_bound_, fitted.n_iter_, fitted.converged_) == (
        expected.lower_bound_, expected.n_iter_, expected.converged_)
    np.testing.assert_array_equal(fitted.predict(three_blobs), expected.predict(three_blobs))
    assert fitted.get_params()["n_init"] == 4  # the caller's object, parameters untouched
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"[kdc] GMM restart {i}/4"
                                                      for i in range(1, 5)]


def test_fit_mixture_warns_once_when_the_best_restart_did_not_converge(three_blobs, capsys):
    mixture = GaussianMixture(3, n_init=3, max_iter=1, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_mixture(mixture, three_blobs)
    assert [type(w.message) for w in caught] == [ConvergenceWarning]
    assert capsys.readouterr().out.count("(not converged)") == 3


def test_fit_mixture_is_plain_fit_when_quiet(three_blobs, capsys):
    fitted = fit_mixture(GaussianMixture(3, n_init=2, random_state=0), three_blobs, verbose=0)
    assert fitted.means_.shape == (3, 2) and capsys.readouterr().out == ""
