"""Offline batch prediction: preprocessing steps and streaming input/output.

``steps`` holds the declarative preprocessing chain, ``statistics`` the whole-input pass
some steps need, ``io`` the chunked readers and idempotent writers on the object store.
Importing this package loads nothing heavy; pandas and pyarrow come with the modules.
"""
