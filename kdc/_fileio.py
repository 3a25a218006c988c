"""Crash-safe writes: files via a temporary file and ``os.replace``, folders via a rename.

Everything kdc writes for a user (run folders, saved models, exports) goes
through these helpers, so an interrupted or failed write never leaves a
half-written file or folder where a good one was.
"""

import os
import shutil
import tempfile
from pathlib import Path


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, data):
    """Write ``data`` (bytes or str) to ``path``: a temporary file beside it, then ``os.replace``."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes owner-only files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def swap_in(staging, out):
    """Rename ``staging`` to ``out``; an existing ``out`` is deleted only after that worked."""
    if not out.exists():
        os.replace(staging, out)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    try:
        os.replace(out, trash / out.name)
    except BaseException:
        trash.rmdir()
        raise
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(trash / out.name, out)
        shutil.rmtree(trash, ignore_errors=True)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def staging_dir(out):
    """A new empty folder beside ``out`` (same file system), with the user's default permissions."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes an owner-only folder
    return staging


def check_target(path, overwrite, *, kind, is_ours):
    """The folder ``path`` to write a ``kind`` into, refusing anything but an earlier
    write of ours (``is_ours(folder)``), and that only with ``overwrite``.

    Raises:
        ValueError: ``overwrite`` is not a bool, ``path`` is a file, or a
            non-empty folder that ``is_ours`` does not recognise.
        FileExistsError: ``path`` holds ours and ``overwrite`` is False.
    """
    if not isinstance(overwrite, bool):
        raise ValueError(f"overwrite must be True or False. Received: overwrite={overwrite!r}")
    out = Path(os.fspath(path)).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"path must be a folder to write the {kind} into. Received: path='{out}', "
                         "which is an existing file.")
    if out.is_dir() and any(out.iterdir()):
        if not is_ours(out):
            raise ValueError(
                f"path '{out}' is a non-empty folder that does not hold a kdc {kind}; kdc only "
                "replaces folders it wrote itself. Choose another path.")
        if not overwrite:
            raise FileExistsError(
                f"path '{out}' already holds a kdc {kind}. Pass overwrite=True to replace it "
                "(the old one is kept until the new one is complete), or choose another path.")
    return out
