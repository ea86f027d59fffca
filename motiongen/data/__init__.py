"""Datasets built from the raw archives: unpacking, conversion, captions, splits."""
