"""Where readings and hazards are kept: time-series backends and the hazard register.

Imports ``hazmon.config`` and ``hazmon.analysis``.
"""
