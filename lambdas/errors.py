"""One exception root for the supervision model and the reaper; every error carries its fields."""

from __future__ import annotations

from collections.abc import Sequence


class SupervisionError(Exception):
    """Root of the errors raised by `weatherballoon.lambdas`."""


class MalformedItemError(SupervisionError):
    """A table item does not have the shape the schema promises."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class SettingError(SupervisionError):
    """The reaper's environment is incomplete or wrong."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class MissingSettingError(SettingError):
    def __init__(self, name: str) -> None:
        super().__init__(f"required environment variable {name} is not set", name=name)


class InvalidSettingError(SettingError):
    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"environment variable {name}={value!r} is invalid: expected {expected}", name=name)
        self.value = value


class PriceLookupError(SupervisionError):
    """No price is known for an instance type in a region."""

    def __init__(self, message: str, *, region: str, instance_type: str) -> None:
        super().__init__(message)
        self.region = region
        self.instance_type = instance_type


class UnknownInstanceTypeError(PriceLookupError):
    pass


class UnknownRegionError(PriceLookupError):
    pass


class RowNotFoundError(SupervisionError):
    def __init__(self, pk: str, sk: str) -> None:
        super().__init__(f"no table row {pk!r}/{sk!r}")
        self.pk = pk
        self.sk = sk


class RowExistsError(SupervisionError):
    def __init__(self, pk: str, sk: str) -> None:
        super().__init__(f"table row {pk!r}/{sk!r} already exists")
        self.pk = pk
        self.sk = sk


class LeaseRefusedError(SupervisionError):
    """A renewal was refused: the row is marked, terminating or closed. The machine must stop."""

    def __init__(self, pk: str, reason: str) -> None:
        super().__init__(f"lease of {pk!r} not renewed: {reason}")
        self.pk = pk
        self.reason = reason


class StoreError(SupervisionError):
    """The table could not be read or written (after the client's own retries)."""

    def __init__(self, message: str, *, operation: str, code: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code


class FleetError(SupervisionError):
    """An EC2 call failed (after the client's own retries)."""

    def __init__(self, message: str, *, operation: str, code: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.code = code


class ReaperRunError(SupervisionError):
    """Raised by the handler after a run that processed what it could but met failures."""

    def __init__(self, failures: Sequence[object], summary: str) -> None:
        super().__init__(summary)
        self.failures = tuple(failures)
