"""Folder replacement without a moment where the target is missing, and recovery after a kill."""

import os
import subprocess
import sys

import pytest

from kdc import _fileio


def _folder(path, text):
    path.mkdir()
    (path / "f").write_text(text)
    return path


def _dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_swap_in_replaces_a_folder_in_one_step_where_the_system_can(tmp_path, monkeypatch):
    out = _folder(tmp_path / "m", "old")
    staging = _fileio.staging_dir(out)
    (staging / "f").write_text("new")
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: renames.append((a, b)) or real_replace(a, b))
    _fileio.swap_in(staging, out)
    assert (out / "f").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    if _fileio._renameat2() is not None:  # Linux: one exchange, no rename of the old folder
        assert renames == []


def test_exchange_paths_swaps_two_folders(tmp_path):
    a, b = _folder(tmp_path / "a", "A"), _folder(tmp_path / "b", "B")
    if not _fileio.exchange_paths(a, b):
        pytest.skip("this system has no atomic exchange of two paths")
    assert (a / "f").read_text() == "B" and (b / "f").read_text() == "A"
    with pytest.raises(OSError):
        _fileio.exchange_paths(a, tmp_path / "missing")


def test_two_rename_fallback_keeps_the_old_folder_when_the_second_fails(tmp_path, monkeypatch):
    out = _folder(tmp_path / "m", "old")
    staging = _fileio.staging_dir(out)
    (staging / "f").write_text("new")
    monkeypatch.setattr(_fileio, "exchange_paths", lambda a, b: False)
    real_replace, calls = os.replace, []

    def second_fails(a, b):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(KeyboardInterrupt):
        _fileio.swap_in(staging, out)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (out / "f").read_text() == "old"


def test_a_copy_left_aside_by_a_killed_replacement_is_put_back(tmp_path):
    """A process killed between the two renames of the fallback leaves the old folder aside."""
    aside = tmp_path / f".m.{_dead_pid()}.abc123.old"
    aside.mkdir()
    _folder(aside / "m", "old")
    assert not (tmp_path / "m").exists()
    assert _fileio.recover_lone_copy(tmp_path / "m") == tmp_path / "m"
    assert (tmp_path / "m" / "f").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_next_write_removes_leftovers_of_dead_processes_only(tmp_path):
    out = _folder(tmp_path / "m", "current")
    dead, alive = _dead_pid(), os.getppid()
    leftovers = [_folder(tmp_path / f".m.{dead}.x1.partial", "half"),
                 _folder(tmp_path / f".m.{dead}.x2.old", "old")]
    running = _folder(tmp_path / f".m.{alive}.x3.partial", "someone else's save in progress")
    other = _folder(tmp_path / f".n.{dead}.x4.partial", "another target's")
    staging = _fileio.staging_dir(out)
    assert not any(p.exists() for p in leftovers)
    assert running.exists() and other.exists() and (out / "f").read_text() == "current"
    staging.rmdir()


def test_load_recovers_a_model_left_aside(tmp_path):
    import numpy as np

    import kdc
    from tests.conftest import TINY, make_blobs

    x, _ = make_blobs(n_samples=60)
    est = kdc.AEKMeans(3, random_state=0, **TINY).fit(x)
    path = est.save(tmp_path / "m")
    aside = tmp_path / f".m.{_dead_pid()}.k1ll3d.old"
    aside.mkdir()
    os.replace(path, aside / "m")
    loaded = kdc.load(path)
    np.testing.assert_array_equal(loaded.predict(x), est.predict(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
