"""`rxssnet` command line: a thin dispatcher over the command modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rxssnet_core.commands import CORE_COMMAND_MODULES


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def build_parser(module_names: Sequence[str] = CORE_COMMAND_MODULES, prog: str = "rxssnet"
                 ) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="RXSSNet RGB-X semantic segmentation: network, data, training, evaluation, export, bags.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in module_names:
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None, module_names: Sequence[str] = CORE_COMMAND_MODULES) -> int:
    parser = build_parser(module_names)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, OSError, KeyError) as error:
        # Known failure modes carry a message that names the bad input and the fix.
        print(f"rxssnet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
