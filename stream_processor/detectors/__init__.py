"""Online anomaly detectors behind one protocol, found by name in a registry.

Every detector module is imported here, explicitly, so that importing this
package registers all of them (see :mod:`stream_processor.detectors.registry`).
"""

from __future__ import annotations

from stream_processor.detectors import ewma_zscore, river_sad
from stream_processor.detectors.base import Detector, DetectorBase, Explanation, ExplanationBatch
from stream_processor.detectors.ewma_zscore import EWMAZScore
from stream_processor.detectors.registry import create_detector, detector_class, detector_names, register
from stream_processor.detectors.river_sad import RiverStandardAbsoluteDeviation

__all__ = [
    "Detector",
    "DetectorBase",
    "Explanation",
    "ExplanationBatch",
    "EWMAZScore",
    "RiverStandardAbsoluteDeviation",
    "create_detector",
    "detector_class",
    "detector_names",
    "register",
]

del ewma_zscore, river_sad  # imported for their registration only
