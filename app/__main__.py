"""Composition root: the GUI when started without a command, the CLI otherwise.

Only the standard library is imported here so that the first window is not delayed by
cryptography, httpx, joserfc or keyring; each face imports what it needs.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--key-worker"]:  # the bundle's PKCS#12 child (app/core/keyworker.py); before anything else
        from app.core.keyworker import serve

        return serve()
    if _wants_gui(args):
        from app.ui.wizard import run_gui

        return run_gui(args)
    from app.cli import main as cli_main

    return cli_main(args)


def _wants_gui(args: list[str]) -> bool:
    """No subcommand (only --home DIR or --gui) means the wizard."""
    rest = [a for a in args if a != "--gui"]
    if "--gui" in args:
        return True
    if not rest:
        return True
    if rest[0] == "--home" and len(rest) == 2:
        return True
    if rest[0].startswith("--home=") and len(rest) == 1:
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
