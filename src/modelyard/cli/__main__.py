"""``python -m modelyard.cli`` runs the ``modelyard`` command."""

from modelyard.cli.main import cli

cli(prog_name="modelyard")
