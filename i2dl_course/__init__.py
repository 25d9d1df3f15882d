"""The trusted side of the kit: release, grading (sandbox, judges, gradebook, feedback) and the
`i2dl` command. Notebooks never import it and no sandbox can see it; `i2dl_utils` is what runs in
a student's kernel."""
