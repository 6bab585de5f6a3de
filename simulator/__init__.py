"""An EWS server faithful enough that exchangelib cannot tell it from Exchange (issue 3).

``Simulator`` is the entry point for tests; ``mfr simulator`` runs it from the command line.
"""

from simulator.server import Simulator
from simulator.settings import SimulatorSection, SimulatorSettings

__all__ = ["Simulator", "SimulatorSection", "SimulatorSettings"]
