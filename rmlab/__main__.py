import sys

from rmlab.cli import main

sys.exit(main())
