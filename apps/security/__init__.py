"""Operator security: login lockout, two-factor login, re-authentication, request limits, headers."""
