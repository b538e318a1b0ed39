"""Strawberry's schema-extension runner without the per-phase cost of phases no extension
hooks into.

For every request strawberry enters four phases (operation, parsing, validation,
execution), building for each a context manager that looks up every extension's hook and
opens an exit stack, even when no extension has a hook for it. Ours hooks only into the
operation, so the other three get a shared context manager that does nothing; a phase
some extension hooks into gets strawberry's own.
"""

from __future__ import annotations

from types import TracebackType

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ParsingContextManager,
    ValidationContextManager,
)
from strawberry.extensions.runner import SchemaExtensionsRunner


class _NoHooks:
    """A phase without hooks: nothing to enter or leave. Stateless, so shared."""

    def __init__(self) -> None:
        pass  # strawberry's __init__ looks up hooks; there are none

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        return None


class _NoParsingHooks(_NoHooks, ParsingContextManager):
    pass


class _NoValidationHooks(_NoHooks, ValidationContextManager):
    pass


class _NoExecutingHooks(_NoHooks, ExecutingContextManager):
    pass


_NO_PARSING_HOOKS = _NoParsingHooks()
_NO_VALIDATION_HOOKS = _NoValidationHooks()
_NO_EXECUTING_HOOKS = _NoExecutingHooks()


def _hooked(extensions: list[SchemaExtension], hook: str) -> bool:
    default = getattr(SchemaExtension, hook)
    return any(getattr(type(extension), hook) is not default for extension in extensions)


class LeanExtensionsRunner(SchemaExtensionsRunner):
    def parsing(self) -> ParsingContextManager:
        if _hooked(self.extensions, "on_parse"):
            return super().parsing()
        return _NO_PARSING_HOOKS

    def validation(self) -> ValidationContextManager:
        if _hooked(self.extensions, "on_validate"):
            return super().validation()
        return _NO_VALIDATION_HOOKS

    def executing(self) -> ExecutingContextManager:
        if _hooked(self.extensions, "on_execute"):
            return super().executing()
        return _NO_EXECUTING_HOOKS
