"""Course tooling on top of nbgrader: release (generate + leak check), grading, reports."""
