"""The department's desk: a web app over the hazard register and the time-series store.

``hazmon serve`` runs it (:mod:`hazmon.acquisition.commands.serve`); :func:`create_app`
builds the ASGI application.
"""
