# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The robot's runtime without torch: `Segmenter` and the real segment_node on an ONNX file with ONNX Runtime.

Each check runs in a child process where `import torch` raises ModuleNotFoundError: a `sitecustomize.py` on
PYTHONPATH puts a finder first on `sys.meta_path` that refuses torch and records every attempt in a file.
The parent (which has torch) computes the expected labels with the torch backend and exports the ONNX file.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ros_harness import Harness, NodeProcess, image_msg, image_to_numpy, ros_child_env

H, W = 64, 80
BLOCKER = '''
import os
import sys


class _RefuseTorch:
    """Import finder: torch cannot be imported in this process; each attempt is recorded."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            with open(os.environ["RXSSNET_TORCH_ATTEMPTS"], "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the torch-free runtime test)",
                                      name=name)
        return None


sys.meta_path.insert(0, _RefuseTorch())
'''


@pytest.fixture(scope="module")
def torch_free_env(tmp_path_factory) -> tuple[dict[str, str], pathlib.Path]:
    """Environment of a child process without torch, and the file that records import attempts."""
    folder = tmp_path_factory.mktemp("no_torch")
    (folder / "sitecustomize.py").write_text(BLOCKER)
    attempts = folder / "torch_import_attempts.txt"
    env = ros_child_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH", "")) if p)
    env["RXSSNET_TORCH_ATTEMPTS"] = str(attempts)
    env["OMP_NUM_THREADS"] = "1"
    return env, attempts


@pytest.fixture(scope="module")
def exported_onnx(tiny_checkpoint, tmp_path_factory) -> pathlib.Path:
    from rxssnet_core.export import export_onnx
    from rxssnet_core.models.checkpoints import load_model

    return export_onnx(load_model(tiny_checkpoint), tmp_path_factory.mktemp("onnx") / "model.onnx", H, W)


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8), rng.integers(0, 256, (H, W), dtype=np.uint8)


def _torch_labels(checkpoint: pathlib.Path, rgb: np.ndarray, x: np.ndarray) -> np.ndarray:
    from rxssnet_core.inference import Segmenter

    return Segmenter.from_checkpoint(checkpoint, backend="torch").segment(rgb, x).labels


def test_the_blocker_really_blocks_torch(torch_free_env):
    env, attempts = torch_free_env
    done = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "blocked by the torch-free runtime test" in done.stderr
    assert attempts.read_text().split() == ["torch"]
    attempts.unlink()


def test_segmenter_with_onnxruntime_never_imports_torch(torch_free_env, exported_onnx, tiny_checkpoint, tmp_path):
    env, attempts = torch_free_env
    rgb, x = _pair(1)
    np.save(tmp_path / "rgb.npy", rgb)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from rxssnet_core.inference import Segmenter

        seg = Segmenter.from_checkpoint({str(tiny_checkpoint)!r}, backend="onnxruntime",
                                        onnx_path={str(exported_onnx)!r})
        result = seg.segment(np.load({str(tmp_path / "rgb.npy")!r}), np.load({str(tmp_path / "x.npy")!r}),
                             return_confidence=True)
        np.save({str(tmp_path / "labels.npy")!r}, result.labels)
        alone = Segmenter.from_checkpoint(None, backend="onnxruntime", onnx_path={str(exported_onnx)!r})
        print(json.dumps({{"torch_loaded": "torch" in sys.modules, "classes": seg.class_names,
                          "alone_classes": alone.class_names, "dtype": str(result.labels.dtype),
                          "confidence_range": [float(result.confidence.min()), float(result.confidence.max())]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert not attempts.exists(), f"torch import attempted: {attempts.read_text()}"
    assert report["torch_loaded"] is False
    assert report["classes"] == report["alone_classes"] == ["background", "a", "b", "c", "d"]
    assert report["dtype"] == "uint8" and 0.0 < report["confidence_range"][0] <= report["confidence_range"][1] <= 1.0
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), _torch_labels(tiny_checkpoint, rgb, x))


@pytest.mark.ros
def test_segment_node_with_onnxruntime_answers_without_torch(torch_free_env, exported_onnx, tiny_checkpoint):
    env, attempts = torch_free_env
    node = NodeProcess({"checkpoint": str(tiny_checkpoint), "backend": "onnxruntime",
                        "onnx_path": str(exported_onnx), "input_qos": "reliable"}, env, namespace="/torch_free")
    harness = Harness("torch_free_harness")
    try:
        rgb_pub = harness.publisher("/torch_free/segment_node/rgb/image")
        x_pub = harness.publisher("/torch_free/segment_node/x/image")
        labels = harness.collect("/torch_free/segment_node/labels")
        assert harness.wait_for_subscribers([rgb_pub, x_pub], 120), f"node never subscribed:\n{node.output}"
        rgb, x = _pair(2)
        stamp = 1_700_000_000 * 1_000_000_000
        deadline_ok = False
        for attempt in range(5):  # the first pair may go out before discovery of the labels topic completes
            x_pub.publish(image_msg(x, "mono8", stamp + attempt))
            rgb_pub.publish(image_msg(rgb, "rgb8", stamp + attempt))
            if labels.wait_for(lambda msgs: len(msgs) > 0, 20):
                deadline_ok = True
                break
        assert deadline_ok, f"no labels from the node:\n{node.output}"
        got = image_to_numpy(labels.messages[0])
    finally:
        harness.close()
        code = node.stop()
    assert code == 0 and "Traceback" not in node.output, node.output
    assert not attempts.exists(), f"torch import attempted: {attempts.read_text()}\n{node.output}"
    np.testing.assert_array_equal(got.reshape(H, W), _torch_labels(tiny_checkpoint, rgb, x))
