"""The ``modelyard`` command line (click). The entry point is :data:`modelyard.cli.main.cli`."""
