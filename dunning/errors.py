"""Every error dunning raises on purpose, in one place."""


class DunningError(Exception):
    """Base of every error dunning raises on purpose."""


class ConfigError(DunningError):
    """A configuration file says something dunning cannot use."""


class NotFound(DunningError):
    """A loan, case or action named by the caller does not exist."""


class RunOrderError(DunningError):
    """A daily run was asked for a date before one already run."""


class TemplateError(DunningError):
    """A template is missing, broken, or lacks a value it needs."""

    def __init__(self, template: str, problem: str) -> None:
        # Both go to Exception.args, so the error survives a pickle round trip.
        super().__init__(template, problem)
        self.template = template
        self.problem = problem

    def __str__(self) -> str:
        return f"template {self.template!r}: {self.problem}"


class ChannelError(DunningError):
    """A channel could not carry out a call or a text."""


class TransientChannelError(ChannelError):
    """Nothing went out and trying again later may work (rate limit, outage)."""


class PermanentChannelError(ChannelError):
    """Trying again will not help; ``contact_status`` says what to mark."""

    def __init__(self, message: str, contact_status: str = "invalid") -> None:
        super().__init__(message)
        self.contact_status = contact_status


class UnsureSendError(ChannelError):
    """The create may have reached the channel: the claim stays, and is reconciled.

    Raised when a request to create a call or text was sent but its answer never
    came (read timeout, connection dropped), or when the channel cannot yet tell
    whether it went out. Sending again could reach the borrower twice.
    """
