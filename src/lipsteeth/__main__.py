"""``python -m lipsteeth``: the same command line as the ``lipsteeth`` script."""

from lipsteeth.adapters.cli import main

if __name__ == "__main__":
    main()
