"""Schemas of every config file, the quantity catalogue and the bundled TOML data.

This package imports nothing else of hazmon's: every layer reads it.
"""
