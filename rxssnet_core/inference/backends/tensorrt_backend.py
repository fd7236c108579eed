"""TensorRT backend (Jetson and desktop GPUs): engine build from the ONNX export, INT8 calibration, execution.

Written against the TensorRT 10 Python API (the calls also exist in 8.6). TensorRT 11 dropped the precision
builder flags and calibrators: there only fp32 engines are built here. Device buffers are torch CUDA tensors,
so no pycuda or cuda-python is needed: TensorRT only sees their addresses.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from rxssnet_core.inference.backends.base import (
    BackendError,
    InferenceBackend,
    check_choice,
    check_cuda_available,
    require_module,
)

INPUT_NAMES = ("rgb", "x")
OUTPUT_NAME = "logits"
# Bounds of a dynamic-shape engine when the caller gives none: the model pads to a multiple of 32, so any size
# works, but TensorRT tunes kernels for the range, and a narrow range builds faster and runs faster.
DEFAULT_MIN_SIZE = (128, 128)


def import_tensorrt() -> Any:
    """`import tensorrt`, or BackendError saying how to install it."""
    return require_module("tensorrt")


def tensorrt_version() -> str:
    return str(import_tensorrt().__version__)


def _logger(trt: Any, verbose: bool = False) -> Any:
    return trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)


def _torch_dtype(trt: Any, dtype: Any) -> Any:
    torch = require_module("torch")
    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16,
             trt.DataType.INT8: torch.int8, trt.DataType.INT32: torch.int32}
    if hasattr(trt.DataType, "BF16"):
        table[trt.DataType.BF16] = torch.bfloat16
    if dtype not in table:
        raise BackendError(f"TensorRT tensor type {dtype} is not supported by this backend")
    return table[dtype]


# ----------------------------------------------------------------------------------------------------------
# INT8 calibration


def make_calibrator(batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]], cache_path: pathlib.Path
                    ) -> Any:
    """An IInt8EntropyCalibrator2 fed with (rgb (1,3,H,W), x (1,C,H,W)) float32 network inputs.

    `batches` is called once, when TensorRT starts calibrating. The calibration table is written to
    `cache_path` and reused by later builds (delete it after changing the calibration images).
    """
    trt = import_tensorrt()
    torch = require_module("torch")

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._iterator: Any = None
            self._device_inputs: list[Any] = []  # kept alive until TensorRT asks for the next batch

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: Sequence[str]) -> list[int] | None:
            if self._iterator is None:
                self._iterator = iter(batches())
            try:
                rgb, x = next(self._iterator)
            except StopIteration:
                return None
            arrays = {"rgb": rgb, "x": x}
            self._device_inputs = [
                torch.from_numpy(np.ascontiguousarray(arrays[name], dtype=np.float32)).cuda()
                for name in names]
            torch.cuda.synchronize()
            return [int(tensor.data_ptr()) for tensor in self._device_inputs]

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()


# ----------------------------------------------------------------------------------------------------------
# Engine build


def check_build_precision(precision: str) -> None:
    """Raise BackendError unless this TensorRT can build an engine of `precision`."""
    trt = import_tensorrt()
    if precision not in ("fp32", "fp16", "int8"):
        raise BackendError(f"TensorRT precision={precision!r} is unknown; choose fp32, fp16 or int8")
    if int(str(trt.__version__).split(".")[0]) >= 11 and precision != "fp32":
        raise BackendError(
            f"TensorRT {trt.__version__} removed BuilderFlag.FP16/INT8 and calibrators (strongly typed networks "
            f"only), so precision={precision!r} cannot be built here; install TensorRT 10 (pip install "
            "'tensorrt<11'; JetPack 6 ships 10.3) or use precision='fp32'")


def _profile_shapes(shape: Sequence[int], opt_size: tuple[int, int], min_size: tuple[int, int],
                    max_size: tuple[int, int], max_batch: int) -> tuple[tuple[int, ...], ...]:
    """(min, opt, max) shapes of one (B, C, H, W) input whose dynamic dims are -1."""
    batch, channels, height, width = (int(d) for d in shape)
    lows = (1 if batch < 0 else batch, channels, min_size[0] if height < 0 else height,
            min_size[1] if width < 0 else width)
    opts = (1 if batch < 0 else batch, channels, opt_size[0] if height < 0 else height,
            opt_size[1] if width < 0 else width)
    highs = (max_batch if batch < 0 else batch, channels, max_size[0] if height < 0 else height,
             max_size[1] if width < 0 else width)
    return lows, opts, highs


def build_engine(onnx_path: str | pathlib.Path, engine_path: str | pathlib.Path, precision: str = "fp16",
                 opt_size: tuple[int, int] = (480, 640), min_size: tuple[int, int] | None = None,
                 max_size: tuple[int, int] | None = None, max_batch: int = 1, calibrator: Any = None,
                 workspace_mb: int | None = None, verbose: bool = False) -> pathlib.Path:
    """Parse an RXSSNet ONNX file and serialise a TensorRT engine to `engine_path`.

    precision: fp32 | fp16 | int8 (int8 needs `calibrator`; fp16 stays allowed for layers without INT8).
    For an ONNX file with dynamic height/width, the optimisation profile spans min_size..max_size (defaults
    128x128 (or opt_size if smaller) .. 2 x opt_size) and is tuned for opt_size; fixed dims are taken from the file.
    """
    trt = import_tensorrt()
    check_build_precision(precision)
    if precision == "int8" and calibrator is None:
        raise BackendError("precision='int8' needs calibration images: pass calibration_dir "
                           "(--calibration-dir)")
    major = int(str(trt.__version__).split(".")[0])
    onnx_path, engine_path = pathlib.Path(onnx_path), pathlib.Path(engine_path)
    min_size = min_size or (min(DEFAULT_MIN_SIZE[0], opt_size[0]), min(DEFAULT_MIN_SIZE[1], opt_size[1]))
    max_size = max_size or (2 * opt_size[0], 2 * opt_size[1])

    logger = _logger(trt, verbose)
    builder = trt.Builder(logger)
    flags = 0
    if major < 10:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)  # implicit batch was removed in 10
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {str(onnx_path)!r}: {errors}")

    config = builder.create_builder_config()
    if workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        profile.set_shape(tensor.name, *_profile_shapes(tuple(tensor.shape), opt_size, min_size, max_size,
                                                        max_batch))
    config.add_optimization_profile(profile)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT failed to build an engine from {str(onnx_path)!r} (see its log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    partial = engine_path.with_name(engine_path.name + ".partial")
    partial.write_bytes(bytes(serialized))
    partial.replace(engine_path)  # a crash mid-write must not leave a truncated engine in the cache
    return engine_path


# ----------------------------------------------------------------------------------------------------------
# Execution


class TensorRTBackend(InferenceBackend):
    """Runs a serialised engine with `execute_async_v3` on its own CUDA stream; logits stay on the GPU."""

    name = "tensorrt"

    def __init__(self, engine_path: str | pathlib.Path, device: str = "cuda", precision: str = "fp16",
                 verbose: bool = False) -> None:
        trt = import_tensorrt()
        torch = require_module("torch")
        check_choice("tensorrt", device, precision)
        check_cuda_available()
        path = pathlib.Path(engine_path)
        if not path.is_file():
            raise BackendError(f"engine_path={str(path)!r} does not exist; build it with `rxssnet export "
                               "--format tensorrt` or give a checkpoint to build it automatically")
        self._trt, self._torch = trt, torch
        self._runtime = trt.Runtime(_logger(trt, verbose))
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise BackendError(
                f"TensorRT {trt.__version__} cannot load {str(path)!r}: engines only run with the TensorRT "
                "version and GPU model that built them; delete the file so that it is rebuilt")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if sorted(inputs) != sorted(INPUT_NAMES) or OUTPUT_NAME not in names:
            raise BackendError(f"{str(path)!r} has tensors {names}; an RXSSNet engine has inputs "
                               f"{list(INPUT_NAMES)} and output {OUTPUT_NAME!r}")
        low, _, high = (tuple(s) for s in self.engine.get_tensor_profile_shape("rgb", 0))
        self.min_size, self.max_size = (low[2], low[3]), (high[2], high[3])
        self.fixed_size = self.min_size if self.min_size == self.max_size else None
        self.max_batch = int(high[0])
        self._dtypes = {n: _torch_dtype(trt, self.engine.get_tensor_dtype(n)) for n in names}
        self._stream = torch.cuda.Stream()
        self.path = path
        self.device = device
        self.precision = precision

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        if self.fixed_size is not None:
            return self.fixed_size
        if (self.min_size[0] <= height <= self.max_size[0]
                and self.min_size[1] <= width <= self.max_size[1]):
            return height, width
        # Outside the profile: scale into it, keeping the aspect ratio as far as the bounds allow.
        scale = min(self.max_size[0] / height, self.max_size[1] / width, 1.0)
        scale = max(scale, self.min_size[0] / height, self.min_size[1] / width)
        return (int(np.clip(round(height * scale), self.min_size[0], self.max_size[0])),
                int(np.clip(round(width * scale), self.min_size[1], self.max_size[1])))

    def infer(self, rgb: np.ndarray, x: np.ndarray) -> Any:
        torch = self._torch
        with torch.cuda.stream(self._stream):
            feeds = {
                name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(
                    "cuda", non_blocking=True).to(self._dtypes[name]).contiguous()
                for name, array in (("rgb", rgb), ("x", x))}
            for name, tensor in feeds.items():
                if not self.context.set_input_shape(name, tuple(tensor.shape)):
                    raise BackendError(
                        f"input {name!r} of shape {tuple(tensor.shape)} is outside the engine's profile "
                        f"(batch <= {self.max_batch}, size {self.min_size}..{self.max_size})")
                self.context.set_tensor_address(name, int(tensor.data_ptr()))
            out_shape = tuple(self.context.get_tensor_shape(OUTPUT_NAME))
            logits = torch.empty(out_shape, dtype=self._dtypes[OUTPUT_NAME], device="cuda")
            self.context.set_tensor_address(OUTPUT_NAME, int(logits.data_ptr()))
            if not self.context.execute_async_v3(self._stream.cuda_stream):
                raise BackendError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        self._stream.synchronize()
        return logits.float()

    def close(self) -> None:
        self.context = None
        self.engine = None
