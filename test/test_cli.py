# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The `rxssnet` command line over its registry: `--help` lists every command without importing a command module,
`rxssnet CMD --help` imports CMD's module only, and the commands a robot runs without torch import no torch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from optional_deps import require

from rxssnet_core.cli import main, selected_command
from rxssnet_core.commands import CORE_COMMANDS, Command
from rxssnet_ros.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
COMMAND_PACKAGES = ("rxssnet_core.commands.", "rxssnet_ros.commands.")
# Commands of the torch-free runtime (requirements/core.txt): they import no torch, even for their arguments.
TORCH_FREE = ("datasets", "calibrate", "bag")
# Command modules that a command's module imports on purpose (shared helpers), besides commands.options.
SHARED = {"predict": {"rxssnet_core.commands.evaluate"}}

# Runs `rxssnet ARGS` in this child process (torch refused when BLOCK_TORCH is set) and prints, as JSON, the exit
# status, its output, our modules and the heavy libraries it imported.
CHILD = textwrap.dedent("""
    import contextlib, io, json, os, sys

    class RefuseTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test_cli)", name=name)
            return None

    if os.environ.get("BLOCK_TORCH"):
        sys.meta_path.insert(0, RefuseTorch())
    from rxssnet_ros.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(sys.argv[1:])
        except SystemExit as done:
            code = done.code
    modules = sorted(m for m in sys.modules if m.startswith("rxssnet_"))
    print(json.dumps({"code": code, "stdout": out.getvalue(), "modules": modules,
                      "heavy": sorted(m for m in ("torch", "numpy", "cv2", "rosbags") if m in sys.modules)}))
""")


def command_modules(modules: list[str]) -> set[str]:
    """The command modules among `modules`: the registered ones and anything in the command packages."""
    registered = {command.module for command in COMMANDS}
    return {m for m in modules if m in registered or m.startswith(COMMAND_PACKAGES)}


def run_child(*args: str, block_torch: bool = False) -> dict:
    env = {**os.environ, "COLUMNS": "1000"}  # argparse wraps at hyphens too: no wrapping
    env.pop("BLOCK_TORCH", None)
    if block_torch:
        env["BLOCK_TORCH"] = "1"
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def skip_when_its_dependency_is_missing(result: dict) -> None:
    """On an install without a command's dependency (torch or rosbags on a robot) the CLI refuses the command,
    naming the package: the test is skipped there, and fails as before wherever that package is installed."""
    found = re.search(r"this command needs (\S+), which is not installed", result["stderr"])
    if found:
        require(found.group(1))


def test_registry_names_each_command_and_module_once():
    names = [command.name for command in COMMANDS]
    modules = [command.module for command in COMMANDS]
    assert len(set(names)) == len(names) and len(set(modules)) == len(modules)
    assert set(CORE_COMMANDS) <= set(COMMANDS) and "bag" in names
    assert all(command.help and "\n" not in command.help for command in COMMANDS)


def test_help_lists_every_command_without_importing_a_command_module():
    result = run_child("--help")
    assert result["code"] == 0
    listing = " ".join(result["stdout"].split())
    for command in COMMANDS:
        assert f" {command.name} {' '.join(command.help.split())}" in listing, result["stdout"]
    assert command_modules(result["modules"]) == set(), f"--help imported {result['modules']}"
    assert result["heavy"] == [], f"--help imported {result['heavy']}"


def test_no_command_prints_the_help_and_exits_2():
    result = run_child()
    assert result["code"] == 2 and all(command.name in result["stdout"] for command in COMMANDS)
    assert command_modules(result["modules"]) == set()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
def test_command_help_imports_only_its_module(command):
    result = run_child(command.name, "--help", block_torch=command.name in TORCH_FREE)
    skip_when_its_dependency_is_missing(result)
    assert result["code"] == 0, result["stderr"]
    assert " ".join(command.help.split()) in " ".join(result["stdout"].split())
    assert "options:" in result["stdout"] and "-h, --help" in result["stdout"]
    allowed = {command.module, "rxssnet_core.commands.options", *SHARED.get(command.name, ())}
    loaded = command_modules(result["modules"])
    assert command.module in loaded and loaded <= allowed, f"{command.name} --help imported {sorted(loaded)}"
    if command.name in TORCH_FREE:
        assert "torch" not in result["heavy"]


@pytest.mark.parametrize("argv", [["bag", "convert", "--help"], ["bag", "eval", "--help"],
                                  ["calibrate", "homography", "--help"], ["datasets"], ["datasets", "mfnet"]],
                         ids=" ".join)
def test_torch_free_commands_run_without_torch(argv):
    result = run_child(*argv, block_torch=True)
    skip_when_its_dependency_is_missing(result)
    assert result["code"] == 0, result["stderr"]
    assert "torch" not in result["heavy"] and result["stdout"]


def test_calibrate_runs_without_torch(tmp_path):
    points = tmp_path / "pairs.csv"
    points.write_text("x_u,x_v,rgb_u,rgb_v\n0,0,10,20\n100,0,110,20\n100,100,110,120\n0,100,10,120\n")
    result = run_child("calibrate", "homography", "--points", str(points), block_torch=True)
    assert result["code"] == 0, result["stderr"]
    assert "x_homography: [1.0, 0.0, 10.0, 0.0, 1.0, 20.0, 0.0, 0.0, 1.0]" in result["stdout"].replace("-0.0", "0.0")


def test_selected_command_is_the_first_word_that_is_not_an_option():
    by_name = {command.name: command for command in COMMANDS}
    assert selected_command(["eval", "--checkpoint", "bag"], COMMANDS) == by_name["eval"]
    assert selected_command(["--", "bag", "eval"], COMMANDS) == by_name["bag"]
    assert selected_command(["-h", "eval"], COMMANDS) is None
    assert selected_command(["nope", "eval"], COMMANDS) is None
    assert selected_command([], COMMANDS) is None
    assert selected_command(["bag"], CORE_COMMANDS) is None  # not registered in the core CLI


def test_errors_keep_their_exit_codes(capsys):
    assert main(["calibrate", "homography", "--points", "/nonexistent/pairs.csv"]) == 2
    assert "rxssnet calibrate: error: --points /nonexistent/pairs.csv does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as unknown:
        main(["nope"])
    assert unknown.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err


def test_a_missing_dependency_is_reported_without_a_traceback():
    result = run_child("info", "--help", block_torch=True)
    assert result["code"] == 2 and "Traceback" not in result["stderr"]
    assert "rxssnet info: error: this command needs torch, which is not installed" in result["stderr"]


def test_a_user_error_is_one_line_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    """The CLI catches only RXSSNetError (and OSError): a plain KeyError is a bug, shown with its traceback."""
    (tmp_path / "rxssnet_fake_command.py").write_text(textwrap.dedent("""
        from rxssnet_core.errors import UsageError

        def add_arguments(parser):
            parser.add_argument("what")

        def run(args):
            if args.what == "user":
                raise UsageError("--what user cannot work; use --what fine")
            if args.what == "missing":
                open("/nonexistent/rxssnet/file")
            raise KeyError("internal")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = (Command("fake", "rxssnet_fake_command", "a command for this test"),)
    assert main(["fake", "user"], fake) == 2
    err = capsys.readouterr().err
    assert err == "rxssnet fake: error: --what user cannot work; use --what fine\n"
    assert main(["fake", "missing"], fake) == 2
    assert "No such file or directory" in capsys.readouterr().err
    assert main(["fake", "bug"], fake) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'internal'" in err
    assert "this is a bug in rxssnet" in err and "please report it" in err
