"""``python -m mdlstm_utils.data.md``: the command line of the OpenMM runner (:func:`mdlstm_utils.data.md.runner.main`)."""

import sys

from mdlstm_utils.data.md.runner import main

if __name__ == "__main__":  # not when a spawned replica worker imports this module again
    sys.exit(main())
