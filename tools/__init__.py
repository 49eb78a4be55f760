"""Developer tools that work on the checkout, not installed: ``protogen`` (``make proto``)."""
