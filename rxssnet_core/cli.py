# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""`rxssnet` command line over the command registry (rxssnet_core.commands).

The parser lists every registered command with its one-line help; only the command named on the command line is
imported, and its module adds its arguments. So `rxssnet --help` imports no command module, and a command module
imports everything it uses at its top.

Errors: an `RXSSNetError` (the user's input; its message says the fix) and an OSError (a missing file, a full disk,
no permission) are printed in one line, exit status 2. Anything else is a bug: its traceback is shown, with where
to report it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from rxssnet_core.commands import CORE_COMMANDS, Command
from rxssnet_core.errors import RXSSNetError

BUG_HINT = ("this is a bug in rxssnet, not in your input: please report it with the command line and the traceback "
            "above")


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
    """Runs the command `argv` names; returns its exit status (2 for an error in the user's input)."""
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
    except (RXSSNetError, OSError) as error:
        # the user's input or environment: the message names the bad input and the fix
        print(f"rxssnet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except Exception:
        traceback.print_exc()
        print(f"rxssnet {args.command}: {BUG_HINT}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
