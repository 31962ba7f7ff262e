"""edgesplit cloud_bridge package."""
