"""imagegate: prove a GPU Python image works before it ships."""

__version__ = "0.1.0"
