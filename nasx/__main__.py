"""``python -m nasx`` runs the command-line interface."""

import sys

from .cli.main import main

sys.exit(main())
