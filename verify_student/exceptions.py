"""One exception type per kind of failure; views map them to status codes."""


class VerificationException(Exception):
    """A state-machine transition was refused (the attempt is in the wrong status)."""


class VerificationConfigurationError(Exception):
    """Base for configuration problems (also raised as ImproperlyConfigured by conf)."""


class PhotoStorageError(Exception):
    """The photo could not be written to, or read from, the storage backend."""


class SubmissionError(Exception):
    """The review service could not be reached or refused the submission."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class InvalidPhotoError(ValueError):
    """An uploaded image is too large, empty or not a JPEG/PNG."""
