"""The package version, in its own module so that modules inside the package (the snapshot
format, the command line) can read it without importing ``resolver/__init__``."""

__version__ = "0.1.0"
