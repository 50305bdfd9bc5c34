"""User-facing errors. Each carries a one-line message naming the file or field and what was
expected; the CLI prints it and exits with code 2 (a traceback only with --debug)."""


class WarmstartError(Exception):
    """Base class: a problem the user can fix, reported in one line."""


class ConfigError(WarmstartError):
    """A config file, override or field is missing, mistyped or out of range."""


class DataError(WarmstartError):
    """A data file is missing, empty, undecodable, or lacks an expected column/field."""


class CheckpointError(WarmstartError):
    """A checkpoint or run directory is missing, incomplete, or incompatible."""


class TrainingError(WarmstartError):
    """Training cannot continue (for example a non-finite loss)."""
