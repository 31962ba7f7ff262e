"""One module per CLI verb; shared options live in options.py."""
