# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""TensorRT backend (Jetson and desktop GPUs): engine build from the ONNX export, and execution.

Uses only Python API present in both TensorRT 10.3 (JetPack 6) and TensorRT 11 (PyPI);
test/test_tensorrt_api.py checks every name against both. Engines are built as strongly typed networks:
the precision is in the ONNX file (fp32; fp16 with fp32-sensitive nodes kept fp32; int8 Q/DQ from NVIDIA
ModelOpt), so neither the precision builder flags nor the INT8 calibrators (deprecated in 10.1, removed in 11)
are needed. Device memory and streams come from the CUDA runtime library through ctypes (libcudart, which
every TensorRT install has): no torch, pycuda or cuda-python on the robot.

    engine inputs   rgb (B, 3, H, W) float32, x (B, C, H, W) float32
    engine outputs  labels (B, H, W) uint8/int32 + confidence (B, H, W) float32, or logits (B, K, H, W)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import pathlib
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from rxssnet_core.inference.artifacts import INPUT_NAMES, OUTPUTS_LABELS, OUTPUTS_LOGITS
from rxssnet_core.inference.backends.base import (
    BackendError,
    InferenceBackend,
    check_choice,
    require_module,
)

# Bounds of a dynamic-shape engine when the caller gives none: the model pads to a multiple of 32, so any size
# works, but TensorRT tunes kernels for the range, and a narrow range builds faster and runs faster.
DEFAULT_MIN_SIZE = (128, 128)
BUILD_PRECISIONS = ("fp32", "fp16", "int8")
_MEMCPY_HOST_TO_DEVICE = 1
_MEMCPY_DEVICE_TO_HOST = 2


def import_tensorrt() -> Any:
    """`import tensorrt`, or BackendError saying how to install it."""
    return require_module("tensorrt")


def tensorrt_version() -> str:
    return str(import_tensorrt().__version__)


def _logger(trt: Any, verbose: bool = False) -> Any:
    return trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)


# ----------------------------------------------------------------------------------------------------------
# CUDA runtime through ctypes


def _cudart_candidates() -> list[str]:
    found = ctypes.util.find_library("cudart")
    names = [found] if found else []
    names += ["libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"]
    for root in sys.path:  # pip's nvidia-cuda-runtime-cu12/cu13 wheels (dependencies of tensorrt-cu1x-libs)
        names += sorted(glob.glob(os.path.join(root, "nvidia", "cuda_runtime", "lib", "libcudart.so*")))
        names += sorted(glob.glob(os.path.join(root, "nvidia", "cu13", "lib", "libcudart.so*")))
    return names


class CudaRuntime:
    """The few CUDA runtime calls the backend needs: device memory, copies on a stream, the device name."""

    _instance: CudaRuntime | None = None

    def __init__(self) -> None:
        errors = []
        for name in _cudart_candidates():
            try:
                self._lib = ctypes.CDLL(name)
                break
            except OSError as error:
                errors.append(str(error))
        else:
            raise BackendError("device='cuda' needs the CUDA runtime library (libcudart), which was not found: "
                               "install the CUDA toolkit / JetPack, or pip install nvidia-cuda-runtime-cu12")
        lib = self._lib
        lib.cudaGetErrorString.restype = ctypes.c_char_p
        lib.cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
        lib.cudaFree.argtypes = [ctypes.c_void_p]
        lib.cudaMemcpyAsync.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                        ctypes.c_void_p]
        lib.cudaStreamCreate.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        lib.cudaStreamSynchronize.argtypes = [ctypes.c_void_p]
        lib.cudaStreamDestroy.argtypes = [ctypes.c_void_p]

    @classmethod
    def get(cls) -> CudaRuntime:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _check(self, code: int, what: str) -> None:
        if code != 0:
            message = self._lib.cudaGetErrorString(code).decode(errors="replace")
            raise BackendError(f"CUDA {what} failed: {message} (error {code})")

    def device_count(self) -> int:
        count = ctypes.c_int(0)
        code = self._lib.cudaGetDeviceCount(ctypes.byref(count))
        return int(count.value) if code == 0 else 0

    def device_name(self, device: int = 0) -> str:
        # cudaDeviceProp starts with `char name[256]` in every CUDA version; the buffer covers the whole struct.
        properties = ctypes.create_string_buffer(8192)
        self._check(self._lib.cudaGetDeviceProperties(properties, device), "cudaGetDeviceProperties")
        return properties.raw[:256].split(b"\0", 1)[0].decode(errors="replace")

    def malloc(self, nbytes: int) -> int:
        pointer = ctypes.c_void_p()
        self._check(self._lib.cudaMalloc(ctypes.byref(pointer), max(int(nbytes), 1)), "cudaMalloc")
        return int(pointer.value)

    def free(self, pointer: int) -> None:
        self._lib.cudaFree(ctypes.c_void_p(pointer))

    def stream(self) -> int:
        stream = ctypes.c_void_p()
        self._check(self._lib.cudaStreamCreate(ctypes.byref(stream)), "cudaStreamCreate")
        return int(stream.value)

    def destroy_stream(self, stream: int) -> None:
        self._lib.cudaStreamDestroy(ctypes.c_void_p(stream))

    def to_device(self, pointer: int, array: np.ndarray, stream: int) -> None:
        self._check(self._lib.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, _MEMCPY_HOST_TO_DEVICE,
                                              stream), "cudaMemcpyAsync (host to device)")

    def to_host(self, array: np.ndarray, pointer: int, stream: int) -> None:
        self._check(self._lib.cudaMemcpyAsync(array.ctypes.data, pointer, array.nbytes, _MEMCPY_DEVICE_TO_HOST,
                                              stream), "cudaMemcpyAsync (device to host)")

    def synchronize(self, stream: int) -> None:
        self._check(self._lib.cudaStreamSynchronize(stream), "cudaStreamSynchronize")


def check_cuda() -> None:
    """BackendError unless the CUDA runtime loads and sees a GPU."""
    if CudaRuntime.get().device_count() < 1:
        raise BackendError("device='cuda' was requested but the CUDA runtime sees no GPU (no driver, or no "
                           "device visible to this process); use device='cpu' with another backend")


def gpu_name() -> str:
    """The name of GPU 0 (part of the engine cache key: an engine runs only on the GPU model that built it)."""
    return CudaRuntime.get().device_name(0)


# ----------------------------------------------------------------------------------------------------------
# Engine build


def check_build_precision(precision: str) -> None:
    """Raise BackendError unless `precision` is one an engine is built for."""
    if precision not in BUILD_PRECISIONS:
        raise BackendError(f"TensorRT precision={precision!r} is unknown; choose one of {BUILD_PRECISIONS}")


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


def build_engine(onnx_path: str | pathlib.Path, engine_path: str | pathlib.Path,
                 opt_size: tuple[int, int] = (480, 640), min_size: tuple[int, int] | None = None,
                 max_size: tuple[int, int] | None = None, max_batch: int = 1, workspace_mb: int | None = None,
                 verbose: bool = False) -> pathlib.Path:
    """Parse an RXSSNet ONNX file (fp32, fp16 or Q/DQ int8) and serialise a strongly typed engine.

    For an ONNX file with dynamic height/width, the optimisation profile spans min_size..max_size (defaults
    128x128 (or opt_size if smaller) .. 2 x opt_size) and is tuned for opt_size; fixed dims are taken from the
    file.
    """
    trt = import_tensorrt()
    onnx_path, engine_path = pathlib.Path(onnx_path), pathlib.Path(engine_path)
    min_size = min_size or (min(DEFAULT_MIN_SIZE[0], opt_size[0]), min(DEFAULT_MIN_SIZE[1], opt_size[1]))
    max_size = max_size or (2 * opt_size[0], 2 * opt_size[1])

    logger = _logger(trt, verbose)
    builder = trt.Builder(logger)
    # Strongly typed: every tensor keeps the type the ONNX file gives it, so the fp32-pinned nodes stay fp32.
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
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
    """Runs a serialised engine with `execute_async_v3` on its own CUDA stream; only the outputs come back."""

    name = "tensorrt"

    def __init__(self, engine_path: str | pathlib.Path, device: str = "cuda", precision: str = "fp16",
                 verbose: bool = False) -> None:
        trt = import_tensorrt()
        check_choice("tensorrt", device, precision)
        check_cuda()
        path = pathlib.Path(engine_path)
        if not path.is_file():
            raise BackendError(f"engine_path={str(path)!r} does not exist; build it with `rxssnet export "
                               "--format tensorrt` or give a checkpoint to build it automatically")
        self._trt = trt
        self._cuda = CudaRuntime.get()
        self._runtime = trt.Runtime(_logger(trt, verbose))
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise BackendError(
                f"TensorRT {trt.__version__} cannot load {str(path)!r}: engines only run with the TensorRT "
                "version and GPU model that built them; delete the file so that it is rebuilt")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = tuple(n for n in names if n not in inputs)
        if sorted(inputs) != sorted(INPUT_NAMES) or sorted(outputs) not in (sorted(OUTPUTS_LABELS),
                                                                             sorted(OUTPUTS_LOGITS)):
            raise BackendError(f"{str(path)!r} has tensors {names}; an RXSSNet engine has inputs "
                               f"{list(INPUT_NAMES)} and outputs {list(OUTPUTS_LABELS)} or {list(OUTPUTS_LOGITS)}")
        self.output_names = outputs
        low, _, high = (tuple(s) for s in self.engine.get_tensor_profile_shape("rgb", 0))
        self.min_size, self.max_size = (low[2], low[3]), (high[2], high[3])
        self.fixed_size = self.min_size if self.min_size == self.max_size else None
        self.max_batch = int(high[0])
        self._dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self._stream = self._cuda.stream()
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)
        self.path = path
        self.device = device
        self.precision = precision

    def _device_buffer(self, name: str, nbytes: int) -> int:
        pointer, size = self._buffers.get(name, (0, 0))
        if size < nbytes:  # grows only; a fixed-size engine allocates once
            if pointer:
                self._cuda.free(pointer)
            pointer, size = self._cuda.malloc(nbytes), nbytes
            self._buffers[name] = (pointer, size)
        return pointer

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

    def infer(self, rgb: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        staged = []  # host inputs must outlive their asynchronous copies (until the synchronize below)
        for name, array in (("rgb", rgb), ("x", x)):
            array = np.ascontiguousarray(array, dtype=self._dtypes[name])
            staged.append(array)
            if not self.context.set_input_shape(name, tuple(array.shape)):
                raise BackendError(
                    f"input {name!r} of shape {tuple(array.shape)} is outside the engine's profile "
                    f"(batch <= {self.max_batch}, size {self.min_size}..{self.max_size})")
            pointer = self._device_buffer(name, array.nbytes)
            self._cuda.to_device(pointer, array, self._stream)
            self.context.set_tensor_address(name, pointer)
        results = {}
        for name in self.output_names:
            host = np.empty(tuple(self.context.get_tensor_shape(name)), dtype=self._dtypes[name])
            self.context.set_tensor_address(name, self._device_buffer(name, host.nbytes))
            results[name] = host
        if not self.context.execute_async_v3(self._stream):
            raise BackendError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for name, host in results.items():
            self._cuda.to_host(host, self._buffers[name][0], self._stream)
        self._cuda.synchronize(self._stream)
        del staged
        return results

    def close(self) -> None:
        self.context = None
        self.engine = None
        for pointer, _ in self._buffers.values():
            self._cuda.free(pointer)
        self._buffers = {}
        if self._stream:
            self._cuda.destroy_stream(self._stream)
            self._stream = 0
