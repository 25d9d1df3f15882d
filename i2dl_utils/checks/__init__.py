"""What the notebooks' self-check cells and hidden tests call.

Every check raises AssertionError with a message a student can act on, prints one short line
on success, and keeps stderr empty (nbgrader scores a test cell with stderr output 0).

Hidden-test cells start with this prologue, so that a submission that patched these modules
gets fresh copies from disk instead of its patched ones:

    import sys
    for _m in [m for m in sys.modules if m.startswith("i2dl_utils")]: del sys.modules[_m]
"""
