"""``python -m mdlstm_utils.md``: the command line of the OpenMM runner (:func:`mdlstm_utils.md.runner.main`)."""

import sys

from .runner import main

if __name__ == "__main__":  # not when a spawned replica worker imports this module again
    sys.exit(main())
