"""User-facing errors. Each message says what went wrong and what to do about it."""


class SandboxError(Exception):
    """Base class for errors caused by user input or configuration (not bugs)."""


class InputFileError(SandboxError):
    """A file the user named is missing, unreadable or of the wrong kind."""


class NoFaceError(SandboxError):
    """No face was found where one is required."""


class ConfigError(SandboxError):
    """An unknown registry name, an unused config key or an incompatible crossing."""
