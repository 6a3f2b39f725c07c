"""The command line: one module per command group, each with its parser beside its action (harness.cli.main routes)."""
