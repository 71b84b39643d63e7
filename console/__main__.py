"""`python -m console` starts the desktop console."""

import sys

from console.app import main

sys.exit(main())
