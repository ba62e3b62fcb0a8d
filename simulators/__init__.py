"""Simulated meters: the mirror image of :mod:`hazmon.drivers`.

Scenario signals (baseline, seeded noise, leak and dip events), fault injection through
the status register, register encoding and a Modbus TCP server, all written without
the drivers' code so that encoder and decoder check each other.
"""
