"""Argument parsing shared by the tools: a user mistake is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
from typing import NoReturn

__all__ = ["OneLineArgumentParser"]


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that reports errors in one line (no usage block) and can check paths."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def require_file(self, flag: str, path: str | None) -> None:
        """Exit 2 naming ``flag`` when ``path`` is given but is not a file."""
        if path is not None and not os.path.isfile(path):
            self.error(f"{flag} {path}: no such file")

    def require_dir(self, flag: str, path: str | None) -> None:
        """Exit 2 naming ``flag`` when ``path`` is given but is not a folder."""
        if path is not None and not os.path.isdir(path):
            self.error(f"{flag} {path}: no such directory")
