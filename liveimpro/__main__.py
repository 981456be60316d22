import sys

from liveimpro.cli import main

sys.exit(main())
