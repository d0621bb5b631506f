"""Memory's pages and APIs: `narratives` (narrative APIs and the profile page), `status` (reflection status)."""
