"""`python -m mpn.cli`: the mpn-edit command."""
from mpn.cli import main

main()
