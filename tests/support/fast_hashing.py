"""A password hasher for the suite: Django's PBKDF2, one round instead of a million.

Each created user and each sign-in costs 0.3 s of CPU with the default. The algorithm name stays
`pbkdf2_sha256` and the round count is written in the hash, so Daphne, workers and the runner the
tests start (on the default hashers) still verify these passwords.
"""
from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneRoundPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1
