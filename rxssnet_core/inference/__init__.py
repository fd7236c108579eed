"""One inference API for the node, the bag evaluation and scripts: `Segmenter` over torch, onnxruntime and
tensorrt backends."""

from rxssnet_core.inference.backends.base import BACKENDS, PRECISIONS, BackendError
from rxssnet_core.inference.segmenter import SegmentationResult, Segmenter

__all__ = ["BACKENDS", "PRECISIONS", "BackendError", "SegmentationResult", "Segmenter"]
