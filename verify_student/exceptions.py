"""One exception type per kind of failure; views map them to status codes."""

from django.core.exceptions import ImproperlyConfigured


class VerificationException(Exception):
    """A state-machine transition was refused (the attempt is in the wrong status)."""


class VerificationConfigurationError(Exception):
    """Base for configuration problems (also raised as ImproperlyConfigured by conf)."""


class StorageNotConfigured(VerificationConfigurationError, ImproperlyConfigured):
    """Nothing says where the photos go (an S3 storage without a bucket name)."""


class VerificationUnavailable(VerificationConfigurationError):
    """Photo verification cannot take submissions: a reviewer key or the storage is missing.

    Views answer 503; the message names the setting (for the log, not the learner).
    """


class PhotoStorageError(Exception):
    """The photo could not be written to, or read from, the storage backend."""


class SubmissionError(Exception):
    """The review service could not be reached or refused the submission."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class InvalidPhotoError(ValueError):
    """An uploaded image is too large, empty or not a JPEG/PNG."""


class AttemptInProgressError(Exception):
    """The learner already has an attempt in flight (ready or submitted): one review at a time."""


class TooManyAttemptsError(Exception):
    """The learner started ``MAX_ATTEMPTS_PER_DAY`` attempts in the last 24 hours.

    ``retry_after`` is the number of seconds until the oldest of them leaves the window.
    """

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnknownReceiptError(LookupError):
    """No attempt has the receipt id the reviewer sent."""


class UnknownResultError(ValueError):
    """The reviewer sent a Result other than PASS, FAIL or SYSTEM FAIL."""


class PhotosNotDeletedError(PhotoStorageError):
    """Some stored photos could not be deleted; everything else was done.

    ``paths`` names them. Deleting is idempotent: calling again finishes the job.
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        super().__init__(
            f"{len(paths)} stored photo(s) could not be deleted ({', '.join(paths)}); "
            "the storage error was logged. Run the retirement again to finish."
        )
