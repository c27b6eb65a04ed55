"""The key points a wall display shows against their alarm limits.

Point names are the ones the device profiles in ``firmware_configs/profiles/``
give (``ch4``, ``h2s``, ``o2``, ``temperature``, ``pressure``), so one
query covers every detector of that kind in the park.

The gas limits are the reference values in GB/T 50493-2019 and common oxygen
settings (see ``/work/shared/DOMAIN.md``); temperature and pressure limits are
demo values that fit the simulated transmitters. Real limits are set per site by
its safety engineers and enforced by the stream processor's alert rules: these
lines only draw them on the panels, so edit :data:`KEY_POINTS` to match a park
and run ``parkwatch dashboards build``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KeyPoint", "KEY_POINTS", "SCORE_WARNING", "SCORE_CRITICAL"]

#: Anomaly scores from the detectors (0..1): 0.9 is about z = 5.6, 0.99 about z = 6.8.
SCORE_WARNING = 0.9
SCORE_CRITICAL = 0.99


@dataclass(frozen=True, slots=True)
class KeyPoint:
    """One kind of measurement and its two-level limits.

    ``high`` is (first level, second level) for values that alarm when rising;
    ``low`` is (second level, first level) for values that alarm when falling,
    so both tuples read from low to high.

    >>> KeyPoint("o2", "Oxygen", "suffix: %vol", low=(19.5, 19.5), high=(23.5, 23.5)).threshold_steps()
    [(None, 'red'), (19.5, 'green'), (23.5, 'red')]
    """

    point: str
    title: str
    unit: str
    low: tuple[float, float] | None = None
    high: tuple[float, float] | None = None
    source: str = ""

    def threshold_steps(self) -> list[tuple[float | None, str]]:
        """Grafana threshold steps, lowest first; the first step has no value (minus infinity)."""
        steps: list[tuple[float | None, str]] = []
        if self.low is not None:
            second, first = self.low
            steps.append((None, "red"))
            if first != second:
                steps.append((second, "orange"))
            steps.append((first, "green"))
        else:
            steps.append((None, "green"))
        if self.high is not None:
            first, second = self.high
            if first != second:
                steps.append((first, "orange"))
            steps.append((second, "red"))
        return steps

    @property
    def watch_low(self) -> bool:
        """Whether falling values matter, so panels also show the minimum."""
        return self.low is not None


KEY_POINTS: tuple[KeyPoint, ...] = (
    KeyPoint(
        "ch4",
        "Combustible gas (CH4)",
        "suffix: %LEL",
        high=(25.0, 50.0),
        source="GB/T 50493-2019: first level ≤ 25 %LEL, second level ≤ 50 %LEL",
    ),
    KeyPoint(
        "h2s",
        "Hydrogen sulphide (H2S)",
        "suffix: mg/m³",
        high=(10.0, 20.0),
        source="GB/T 50493-2019: 100 % / 200 % of the OEL, 10 / 20 mg/m³",
    ),
    KeyPoint(
        "o2",
        "Oxygen (O2)",
        "suffix: %vol",
        low=(19.5, 19.5),
        high=(23.5, 23.5),
        source="common settings: low 19.5 %vol, high 23.5 %vol",
    ),
    KeyPoint(
        "temperature",
        "Process temperature",
        "celsius",
        high=(100.0, 120.0),
        source="demo limits for the simulated transmitters (nominal 85 °C)",
    ),
    KeyPoint(
        "pressure",
        "Process pressure",
        "suffix: MPa",
        high=(2.0, 2.5),
        source="demo limits for the simulated transmitters (nominal 1.6 MPa)",
    ),
)
