"""Errors a user can act on: each message says which file, what is wrong and what to do."""


class UserError(Exception):
    """Bad input or missing prerequisites; the CLI prints the message without a traceback."""


class ConfigError(UserError):
    pass


class AssetError(UserError):
    pass


class VideoError(UserError):
    pass


class RoiError(UserError):
    pass
