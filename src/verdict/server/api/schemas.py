"""The base of every request body: strict, and safe to store in either database; and
what a body that is one of several shapes needs so that its errors name its fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    GetCoreSchemaHandler,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

__all__ = ["OneOf", "RequestModel"]

_UNKNOWN_SHAPE = "one_of_unknown"  # a custom error type: pydantic has no such type


def _nul_path(value: Any, path: str) -> str | None:
    """Where in ``value`` a string holds a NUL character, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_path(key, path) or _nul_path(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}.{index}")
            if found:
                return found
    return None


class RequestModel(BaseModel):
    """Unknown fields are refused, and so are NUL characters anywhere in the body:
    PostgreSQL cannot store them in text or JSONB, and no legitimate value needs one."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul_characters(cls, value: Any, info: ValidationInfo) -> Any:
        where = _nul_path(value, info.field_name or "")
        if where is not None:
            raise ValueError(f"contains a NUL character (at {where}), which cannot be stored")
        return value


@dataclass(frozen=True)
class OneOf:
    """Annotated metadata making a union of request models one body of several shapes,
    told apart by the value of one field::

        Annotated[
            Annotated[AdminKeyCreate, Tag("admin")] | Annotated[EnvKeyCreate, Tag("env")],
            OneOf("kind", {"admin": "admin", "server": "env", "client": "env"}),
        ]

    ``tags`` maps each value of ``field`` to the ``Tag`` of the model that takes it. The
    spec shows a ``oneOf`` saying which fields each shape takes. Errors name the body's
    own fields (``body.environment``, not pydantic's ``body.<tag>.environment``), and a
    missing or unknown value names ``field``.
    """

    field: str
    tags: Mapping[str, str]

    def _tag_of(self, value: Any) -> str | None:
        chosen = (
            value.get(self.field) if isinstance(value, dict) else getattr(value, self.field, None)
        )
        chosen = getattr(chosen, "value", chosen)  # an enum member, once validated
        return self.tags.get(chosen) if isinstance(chosen, str) else None

    def _validate(self, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            shapes = set(self.tags.values())
            details: list[InitErrorDetails] = []
            for line in error.errors(include_url=False):
                loc, kind, message = line["loc"], line["type"], line["msg"]
                if kind == _UNKNOWN_SHAPE and not isinstance(value, dict):
                    kind, message = "dict_type", "Input should be an object"
                elif kind == _UNKNOWN_SHAPE:
                    loc = (self.field,)
                    if self.field not in value:
                        kind, message = "missing", "Field required"
                elif loc and loc[0] in shapes:
                    loc = loc[1:]
                details.append(
                    {"type": PydanticCustomError(kind, message), "loc": loc, "input": line["input"]}
                )
            raise ValidationError.from_exception_data(error.title, details) from None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        values = list(self.tags)
        choices = ", ".join(repr(v) for v in values[:-1]) + f" or {values[-1]!r}"
        discriminator = Discriminator(
            self._tag_of,
            custom_error_type=_UNKNOWN_SHAPE,
            custom_error_message=f"Input should be {choices}" if values[:-1] else repr(values[0]),
        )
        union = discriminator.__get_pydantic_core_schema__(source, handler)
        return core_schema.no_info_wrap_validator_function(self._validate, union)
