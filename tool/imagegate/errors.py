"""One error family, shown to the user in one place (the CLI) as one line."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASSED = 0
    VERIFICATION_FAILED = 1
    BAD_INPUT = 2
    ENVIRONMENT = 3


class ImagegateError(Exception):
    """Root of the family: a message that says what, where and what to do."""

    exit_code: ExitCode = ExitCode.ENVIRONMENT


class ProfileError(ImagegateError):
    """A profile (or another input the user wrote) is wrong: exit 2."""

    exit_code = ExitCode.BAD_INPUT


class UsageError(ImagegateError):
    """The command line asks for something that cannot be done: exit 2."""

    exit_code = ExitCode.BAD_INPUT


class EnvironmentProblem(ImagegateError):
    """The machine is not able to do it: no Docker daemon, an index out of reach: exit 3."""

    exit_code = ExitCode.ENVIRONMENT


class BuildFailed(ImagegateError):
    """The image build failed on the stack itself (a smoke step or an install): exit 1."""

    exit_code = ExitCode.VERIFICATION_FAILED


class PushMismatch(ImagegateError):
    """What a registry holds under the pushed reference is not the image judged: exit 1."""

    exit_code = ExitCode.VERIFICATION_FAILED
