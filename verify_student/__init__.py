"""Learner identity verification (a standalone port of Open edX's verify_student)."""
