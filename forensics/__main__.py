import sys

from forensics._cli import main

sys.exit(main())
