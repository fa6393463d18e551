"""Test helpers, imported as ``tests.support.<module>``."""
