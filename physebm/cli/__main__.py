import sys

from physebm.cli.main import main

sys.exit(main())
