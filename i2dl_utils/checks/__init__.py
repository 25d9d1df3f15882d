"""Visible self-checks the notebooks call in the student's kernel (and property checks the judges
share). Every check raises AssertionError with a message a student can act on and prints one
short line on success. They decide no points: graded cells also hold hidden probes
(i2dl_utils.probes) whose exports the judges score outside the kernel (i2dl_course.judges).
"""
