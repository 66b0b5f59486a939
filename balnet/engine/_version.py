"""The package version, in the bottom layer so that every writer can stamp files without importing the package."""
__version__ = "0.1.0"
