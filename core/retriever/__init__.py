"""The recommendation module: a tri-modal query tower and a music tower in one joint space."""
