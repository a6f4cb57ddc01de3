"""The back-office host. Plugins import only :mod:`core.api`; everything else here is private."""
