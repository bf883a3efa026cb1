import sys

from jepa_edge.cli import main

sys.exit(main())
