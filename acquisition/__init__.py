"""The service: poll loop, pipeline, alerts, live view and the ``hazmon`` CLI.

May import every other hazmon package.
"""
