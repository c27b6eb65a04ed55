"""Online anomaly detectors behind one protocol, found by name in a registry.

Every detector module is imported here, explicitly, so that importing this
package registers all of them (see :mod:`stream_processor.detectors.registry`).
"""

from __future__ import annotations

from stream_processor.detectors import (
    ensemble,
    ewma_level,
    ewma_zscore,
    flatline,
    half_space_trees,
    level_shift,
    median_mad,
    rate_of_change,
    river_sad,
    seasonal_lag,
)
from stream_processor.detectors.base import Detector, DetectorBase, Explanation, ExplanationBatch
from stream_processor.detectors.ensemble import EnsembleDetector
from stream_processor.detectors.ewma_level import EWMALevel
from stream_processor.detectors.ewma_zscore import EWMAZScore
from stream_processor.detectors.flatline import FlatlineSensor
from stream_processor.detectors.half_space_trees import RiverHalfSpaceTrees
from stream_processor.detectors.level_shift import CUSUMLevelShift
from stream_processor.detectors.median_mad import MedianMADZScore
from stream_processor.detectors.rate_of_change import RateOfChange
from stream_processor.detectors.registry import create_detector, detector_class, detector_names, register
from stream_processor.detectors.river_sad import RiverStandardAbsoluteDeviation
from stream_processor.detectors.seasonal_lag import SeasonalLag

__all__ = [
    "Detector",
    "DetectorBase",
    "Explanation",
    "ExplanationBatch",
    "CUSUMLevelShift",
    "EnsembleDetector",
    "EWMALevel",
    "EWMAZScore",
    "FlatlineSensor",
    "MedianMADZScore",
    "RateOfChange",
    "RiverHalfSpaceTrees",
    "RiverStandardAbsoluteDeviation",
    "SeasonalLag",
    "create_detector",
    "detector_class",
    "detector_names",
    "register",
]

# imported for their registration only
del ensemble, ewma_level, ewma_zscore, flatline, half_space_trees, level_shift, median_mad
del rate_of_change, river_sad, seasonal_lag
