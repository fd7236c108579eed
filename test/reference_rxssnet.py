# Copyright 2026 RXSSNet-ROS maintainers
# SPDX-License-Identifier: Apache-2.0
"""The authors' RXSSNet forward (transcription), for the parity tests: one copy, in the package.

`rxssnet_core.benchmarks.reference_forward` holds it because `rxssnet bench` times it too.
"""

from rxssnet_core.benchmarks.reference_forward import ConvNeXtV2, ReferenceRXSSNet, randomize_

__all__ = ["ConvNeXtV2", "ReferenceRXSSNet", "randomize_"]
