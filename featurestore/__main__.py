"""`python -m featurestore` runs the CLI."""

from featurestore.cli import main

main()
