"""Allow ``python -m segcli``."""

from segcli.cli.main import main

main()
