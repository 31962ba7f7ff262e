"""edgesplit apps package."""
