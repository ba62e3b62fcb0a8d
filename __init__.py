"""hazmon: instrument data for "leader + expert" safety inspections.

Layers, imported one way only (see ``DESIGN.md``)::

    config -> analysis -> drivers / simulators / store -> acquisition
"""

__version__ = "0.1.0"
