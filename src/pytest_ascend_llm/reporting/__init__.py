"""What a run leaves behind: the results file (JSON lines, written as tests finish) and the reports built from it."""
