"""Crash-safe writes: files via a temporary file and ``os.replace``, folders via a swap.

Everything kdc writes for a user (run folders, saved models, exports) goes
through these helpers, so an interrupted or failed write never leaves a
half-written file or folder where a good one was.

A folder is written under a hidden temporary name beside its target
(``.<name>.<pid>.<random>.partial``) and then put in place. An existing
target is replaced in one step where the system can swap two paths
atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); elsewhere the old
folder is first renamed aside (``.<name>.<pid>.<random>.old``), and a process
killed between the two renames leaves it there: :func:`recover_lone_copy`
(called by ``kdc.load`` and by the next write to the same target) puts it
back. The next write to a target also removes the hidden leftovers of
interrupted writes whose process is gone.
"""

import ctypes
import errno
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


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
    """Put the folder ``staging`` at ``out``; an existing ``out`` is deleted only after that worked."""
    out = Path(out)
    if not out.exists():
        os.replace(staging, out)
        return
    if exchange_paths(staging, out):  # staging now holds the old folder
        shutil.rmtree(staging, ignore_errors=True)
        return
    trash = Path(tempfile.mkdtemp(prefix=_hidden_prefix(out), suffix=".old", dir=out.parent))
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


def exchange_paths(a, b):
    """Swap the paths ``a`` and ``b`` atomically; False where the system cannot.

    Linux' ``renameat2(..., RENAME_EXCHANGE)`` (glibc 2.28, Linux 3.15; most
    local file systems): after it, ``a`` names what ``b`` named and the
    other way round, with no moment where either is missing.

    Raises:
        OSError: the swap is supported but failed (permissions, missing path).
    """
    rename = _renameat2()
    if rename is None:
        return False
    if rename(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), os.fspath(a), None, os.fspath(b))


def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without it (glibc < 2.28, musl < 1.2.3)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def staging_dir(out):
    """A new empty folder beside ``out`` (same file system), with the user's default permissions.

    First puts back a copy of ``out`` that an interrupted replacement left
    aside, and removes the leftovers of interrupted writes to ``out``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover_lone_copy(out)
    remove_leftovers(out)
    staging = Path(tempfile.mkdtemp(prefix=_hidden_prefix(out), suffix=".partial",
                                    dir=out.parent))
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes an owner-only folder
    return staging


def _hidden_prefix(out):
    return f".{out.name}.{os.getpid()}."


def _leftovers(out):
    """(path, kind) of the hidden folders of interrupted writes to ``out`` whose process is gone."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(\d+)\.[^/]*\.(partial|old)")
    found = []
    try:
        siblings = list(out.parent.iterdir())
    except OSError:
        return found
    for path in siblings:
        match = pattern.fullmatch(path.name)
        if match and path.is_dir() and not _process_alive(int(match.group(1))):
            found.append((path, match.group(2)))
    return found


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):  # PermissionError: another user's process
        return True  # a process we cannot check: leave its files
    return True


def recover_lone_copy(out):
    """Put back the folder an interrupted replacement of ``out`` left aside; returns ``out``
    when it did, else None (``out`` exists, or there is nothing to put back)."""
    out = Path(out)
    if out.exists():
        return None
    copies = [path / out.name for path, kind in _leftovers(out)
              if kind == "old" and (path / out.name).is_dir()]
    if not copies:
        return None
    newest = max(copies, key=lambda p: p.stat().st_mtime)
    try:
        os.replace(newest, out)
    except OSError:
        return None
    shutil.rmtree(newest.parent, ignore_errors=True)
    return out


def remove_leftovers(out):
    """Delete the hidden folders of interrupted writes to ``out`` (their process is gone)."""
    for path, _ in _leftovers(Path(out)):
        shutil.rmtree(path, ignore_errors=True)


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
