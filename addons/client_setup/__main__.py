import sys

from addons.client_setup.command import main

if __name__ == "__main__":
    sys.exit(main())
