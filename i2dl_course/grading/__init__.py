"""`i2dl grade`: submissions in, sandboxed kernels, judges outside them, nbgrader's gradebook and
feedback out."""
