"""The scripts that record docs/results/ and tools/docs.py, the one generator of the documents' figures.

Each is run as a script from the checkout (`python tools/NAME.py`) and imported by its tests as `tools.NAME`,
the checkout's root on the path (pytest's `pythonpath`). One-off investigations live in experiments/.
"""
