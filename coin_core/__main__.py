import sys

from coin_core.cli.main import main

sys.exit(main())
