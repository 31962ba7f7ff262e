"""edgesplit export package."""
