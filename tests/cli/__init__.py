"""Tests of segcli/cli: each command through typer's CliRunner, display names, edges said, numeric arguments."""
