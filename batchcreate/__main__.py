"""``python -m batchcreate``."""

import sys

from batchcreate.cli import main

sys.exit(main())
