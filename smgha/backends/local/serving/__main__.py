"""python -m smgha.backends.local.serving <endpoint folder>: the process entry (see main.py)."""

import sys

from smgha.backends.local.serving.main import main

sys.exit(main())
