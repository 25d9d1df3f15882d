"""The LMS round trip: take an LMS's bulk download of submissions (intake.py), fill its gradebook
CSV with the kit's totals (gradebook_csv.py) and pack the feedback as a zip it takes (feedback_zip.py)."""
