"""The event store and the search loop: the only code that writes events."""
