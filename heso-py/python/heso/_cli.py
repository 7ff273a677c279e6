"""The `heso` console script: the same program as the Rust `heso` binary."""

from __future__ import annotations

import sys

from . import _core


def main() -> None:
    sys.exit(_core.run_cli(sys.argv))


if __name__ == "__main__":
    main()
