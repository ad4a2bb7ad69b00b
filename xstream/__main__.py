"""``python -m xstream``: the command line (:mod:`xstream._cli`)."""

from ._cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
