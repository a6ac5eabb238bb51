import sys

from imagegate.cli import main

sys.exit(main())
