"""``python -m desktop`` starts the app (or a terminal tool), as the ``gptgroup`` command does."""

import sys

from desktop.launcher import main

sys.exit(main())
