"""What runs in a student's kernel: data, training, self-checks, probes, plots. The only package a
grading sandbox can see; the trusted side (release, grading) is `i2dl_course`."""
