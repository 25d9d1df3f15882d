"""Reports a human reads beside the grade table, never inputs to a score: similarity (copied solution
cells) and integrity (code that touches the grading channel, cells passed around, implausible
accuracies)."""
