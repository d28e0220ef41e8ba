"""Up-front checks of output paths, so an unwritable destination is one line before any heavy work.

Every tool and launcher that writes calls :func:`output_dir_problem` (a folder it will fill) or
:func:`output_file_problem` (one file, or a file prefix) on its destination before it loads a model
or reads data. The check walks up to the nearest existing ancestor and makes (then removes) a hidden
probe folder there: permission bits alone pass for root in places nobody can write (``/proc``), and
the tools' atomic writes create their temporary files in that same folder.
"""

from __future__ import annotations

import os
import sys
import tempfile

__all__ = ["check_output_paths", "output_dir_problem", "output_file_problem"]


def _nearest_existing(path: str) -> str:
    """``path`` itself or its closest existing ancestor."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def output_dir_problem(path: str) -> str | None:
    """Why folder ``path`` cannot be written (existing or to be created), or ``None`` when it can."""
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return _probe_problem(existing)


def _probe_problem(folder: str) -> str | None:
    """Why nothing can be created in the existing folder ``folder``: a probe folder is made and removed."""
    try:
        probe = tempfile.mkdtemp(prefix=".write-probe-", dir=folder)
    except OSError as exc:
        return f"cannot create anything in {folder}: {exc.strerror or exc}"
    try:
        os.rmdir(probe)
    except OSError as exc:
        return f"cannot remove the probe folder {probe}: {exc.strerror or exc}"
    return None


def output_file_problem(path: str) -> str | None:
    """Why file (or file prefix) ``path`` cannot be written, or ``None`` when it can."""
    if os.path.isdir(path):
        return f"{path} is a directory, not a file"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return output_dir_problem(os.path.dirname(os.path.abspath(path)))


def check_output_paths(prog: str, dirs: dict[str, str | None] | None = None,
                       files: dict[str, str | None] | None = None) -> None:
    """Exit 2 with one line ``prog: error: FLAG PATH: cannot write (why)`` at the first bad path.

    ``dirs`` and ``files`` map a flag name to its path (``None`` paths are not given and pass)."""
    for flags, problem_of in ((dirs or {}, output_dir_problem), (files or {}, output_file_problem)):
        for flag, path in flags.items():
            problem = problem_of(path) if path else None
            if problem:
                print(f"{prog}: error: {flag} {path}: cannot write ({problem})", file=sys.stderr)
                raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    """``python -m dataset.output_paths DIR...``: exit 2 with one line when a folder cannot be written."""
    for path in sys.argv[1:] if argv is None else argv:
        problem = output_dir_problem(path)
        if problem:
            print(f"error: output folder {path}: cannot write ({problem})", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
