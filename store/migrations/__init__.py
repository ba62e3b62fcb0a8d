"""Alembic migrations of the hazard register (:mod:`hazmon.store.hazards`).

Run by :meth:`hazmon.store.hazards.HazardRegister.open`; no ``alembic.ini`` is needed.
"""
