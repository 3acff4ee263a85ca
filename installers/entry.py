"""The frozen app's entry point (``build.spec``): the ``gptgroup`` command."""

import sys

from desktop.launcher import main

sys.exit(main())
