"""parkwatch: shared pieces of the edge-to-cloud pipeline (wire contracts, settings, stack)."""

__version__ = "0.1.0"
