"""Cross-cutting infrastructure shared by every app. Imports no app."""
