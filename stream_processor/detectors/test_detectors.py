"""Every registered detector against the shared checks."""

from __future__ import annotations

import pytest

from stream_processor.detectors import create_detector, detector_names
from stream_processor.detectors.checks import CHECKS


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("name", detector_names())
def test_detector_contract(name: str, check: str) -> None:
    CHECKS[check](create_detector(name))
