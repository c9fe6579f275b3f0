"""What a command does for its own process, never for a library user's.

At exit, CPython's finalisation runs full garbage collections over every object still tracked:
after a run that imported torch, Lightning, pyarrow and pandas (about 250,000 objects) they took
0.75-0.9 s of a 4.8 s ``python generate.py size=200`` on the 2-core machine, after its work was
done. :func:`skip_exit_collections` freezes the tracked objects once the atexit handlers have
run (:func:`gc.freeze`), so those collections find nothing to scan. Objects still alive at exit are
then released by their reference counts as modules are torn down, as before; only garbage in
reference cycles is left to the operating system, whose finalisers Python does not promise to
run at exit anyway. Output files are closed by the commands themselves before they return.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def skip_exit_collections() -> None:
    """Freeze the garbage collector's objects at interpreter exit (once per process; see the module
    docstring). Registered first, the freeze runs after every atexit handler registered later
    (W&B's, Lightning's, logging's)."""
    global _registered
    if not _registered:
        atexit.register(gc.freeze)
        _registered = True
