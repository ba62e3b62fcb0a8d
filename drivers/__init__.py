"""Transports and decoders: bytes from meters in, ``Readings`` out.

Imports ``hazmon.config`` and the batch type of ``hazmon.analysis`` only.
"""
