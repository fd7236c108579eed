# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet` command line over the command registry (rxssnet_core.commands).

The parser lists every registered command with its one-line help; only the command named on the command line is
imported, and its module adds its arguments. So `rxssnet --help` imports no command module, and a command module
imports everything it uses at its top.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rxssnet_core.commands import CORE_COMMANDS, Command


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def selected_command(argv: Sequence[str], commands: Sequence[Command] = CORE_COMMANDS) -> Command | None:
    """The registered command that `argv` runs: its first word that is not an option (the top-level parser has
    only -h), or None for the top-level help, no command or an unknown one (argparse then reports it).
    """
    for word in argv:
        if word in ("-h", "--help"):
            return None
        if not word.startswith("-"):
            return next((command for command in commands if command.name == word), None)
    return None


def build_parser(commands: Sequence[Command] = CORE_COMMANDS, selected: Command | None = None,
                 prog: str = "rxssnet") -> argparse.ArgumentParser:
    """Every command with its help; `selected`'s module is imported and adds its arguments and `run`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="RXSSNet RGB-X semantic segmentation: network, data, training, evaluation, export, bags.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        if command == selected:
            module = importlib.import_module(command.module)
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None, commands: Sequence[Command] = CORE_COMMANDS) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    selected = selected_command(argv, commands)
    try:
        parser = build_parser(commands, selected)
    except ModuleNotFoundError as error:
        # A command whose dependency is not installed (torch on a robot with only ONNX Runtime or TensorRT).
        if selected is None or (error.name or "").split(".")[0] in ("rxssnet_core", "rxssnet_ros"):
            raise
        print(f"rxssnet {selected.name}: error: this command needs {error.name}, which is not installed; "
              "see README.md \"Build\" for the requirements/*.txt that provides it", file=sys.stderr)
        return 2
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
