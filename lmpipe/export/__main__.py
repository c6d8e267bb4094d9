"""`python -m lmpipe.export ...`: the same as `python -m lmpipe export ...`."""

import sys

from lmpipe.cli import main

sys.exit(main(["export", *sys.argv[1:]]))
