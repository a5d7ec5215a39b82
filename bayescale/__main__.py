"""``python -m bayescale`` runs the command line."""

import sys

try:
    from bayescale.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while the command line itself is still importing
    print("bayescale: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
