"""Output files: checked before any work starts, written atomically (temp file + rename).

`check_output_path` runs before a command computes anything, so an unwritable ``--json`` path
(a folder, a path under a regular file, a read-only folder or file system) costs nothing. It
creates and removes a probe file beside the target, which is the only check that also holds for
root and for read-only mounts. `write_text_atomic` writes a temporary file in the target's folder
and renames it over the target (``os.replace`` is atomic on POSIX), so an error or Ctrl-C never
leaves a half-written file behind. Targets that are not regular files (``/dev/stdout``, a FIFO,
``/dev/full``) are written directly: renaming over a device would replace it.
Errors are `OutputError` lines naming the flag, the path and the reason.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from llmimc.errors import OutputError


def _fail(flag: str, path: Path, reason: str) -> OutputError:
    label = f"{flag} {path}" if flag else str(path)
    return OutputError(f"{label}: cannot write here ({reason}); choose a writable file path")


def _special(path: Path) -> bool:
    """True for an existing target that is not a regular file (device, FIFO, socket)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_output_path(path: Path | str, flag: str = "") -> Path:
    """Return ``path`` if a file can be written there; raise `OutputError` (naming ``flag``) if not."""
    p = Path(path).expanduser()
    if str(path).strip() == "":
        raise OutputError(f"{flag or 'output path'}: empty path; give a file name")
    if p.is_dir():
        raise _fail(flag, p, "it is a directory; give a file name inside it")
    if _special(p):
        if not os.access(p, os.W_OK):
            raise _fail(flag, p, "permission denied")
        return p
    parent = p.parent
    if not parent.is_dir():
        ancestor = parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():
            raise _fail(flag, p, f"{ancestor} is a file, not a folder")
        raise _fail(flag, p, f"folder {parent} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise _fail(flag, p, "the file is read-only")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{p.name}.", suffix=".probe")
    except OSError as e:
        raise _fail(flag, p, e.strerror or str(e)) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return p


def write_text_atomic(path: Path | str, text: str, flag: str = "") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; raise `OutputError` if it cannot be written."""
    return write_bytes_atomic(path, text.encode("utf-8"), flag)


def write_bytes_atomic(path: Path | str, data: bytes, flag: str = "") -> Path:
    """Write ``data`` to a temporary file beside ``path``, then move it into place (pipes and devices
    are written directly); raise `OutputError` if it cannot be written."""
    p = Path(path).expanduser()
    if _special(p):
        try:
            with open(p, "wb") as f:
                f.write(data)
        except OSError as e:
            raise _fail(flag, p, e.strerror or str(e)) from None
        return p
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, p)
        tmp = None
    except OSError as e:
        raise _fail(flag, p, e.strerror or str(e)) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return p
