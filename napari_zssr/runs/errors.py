"""The one error a batch as a whole raises."""


class UsageError(ValueError):
    """Bad inputs or output folder for the batch as a whole (exit status 2); one line."""
