"""pytest support for connector authors (``pip install jamey-host[testing]``)."""
