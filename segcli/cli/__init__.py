"""The command-line interface: a thin layer that parses options, calls the library and formats."""
