"""Subcommands of the `rxssnet` command line.

Each module here defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`. Heavy imports (torch,
timm, onnxruntime) happen inside `run`, so `rxssnet --help` stays fast.
"""

CORE_COMMAND_MODULES = (
    "rxssnet_core.commands.info",
    "rxssnet_core.commands.convert_reference",
    "rxssnet_core.commands.datasets",
    "rxssnet_core.commands.train",
    "rxssnet_core.commands.evaluate",
    "rxssnet_core.commands.predict",
    "rxssnet_core.commands.export",
    "rxssnet_core.commands.bench",
    "rxssnet_core.commands.calibrate",
)
