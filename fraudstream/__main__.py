"""`python -m fraudstream`: the same command line as the `fraudstream` script."""

from fraudstream.cli import main

main()
