import sys

from hubtui.cli import main

sys.exit(main())
