"""The pages of a resource named by a key, made once for segments, metric definitions
and environments: a form to create one (``{path}/-/new``: a key starts with a letter,
so that path is never a resource's), a page per resource that shows it, edits it at
the version it was read at and deletes it.

Each page module describes its resource with :class:`KeyedPages`: the service calls,
the API's request schemas, the form and how its text becomes a request body, and the
templates (``{templates}/new.html`` and ``{templates}/detail.html``); its list page,
whose filters differ from one resource to the next, stays in the module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from verdict.server.errors import DomainError
from verdict.server.identity.auth import Principal
from verdict.server.problems import status_of
from verdict.server.web.forms import (
    DELETE_REFUSALS,
    FieldErrors,
    PageForm,
    form_errors,
    if_match,
    refusable,
    require,
    submit,
)
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["KeyedPages"]

Saved = Annotated[str | None, Query(max_length=20)]
CsrfToken = Annotated[str, Form(max_length=200)]
Version = Annotated[str, Form(max_length=20)]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, kw_only=True)
class KeyedPages:
    """One resource's new, detail, edit and delete pages."""

    resource: str  # the permission's resource, and the word the pages use
    path: str  # "/segments"
    templates: str  # "segments"
    key_length: int
    form: type[PageForm]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    # The service, called as the API calls it.
    get: Callable[..., Any]
    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., Any]
    # The form: what it shows for a stored resource, what it shows again as typed, the
    # request body it stands for (a field its own reading refuses goes in the errors),
    # and its first values on a new resource.
    values: Callable[[Any], dict[str, Any]]
    typed: Callable[[Any], dict[str, Any]]
    body: Callable[[Any, FieldErrors], dict[str, Any]]
    blank: Callable[[Principal], dict[str, Any]]
    fields: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)  # e.g. a select's choices

    def describe(self, error: ValidationError | DomainError) -> FieldErrors:
        return form_errors(error, self.fields, self.aliases)

    def new_page(
        self, request: Request, *, values: dict[str, Any], errors: FieldErrors, status_code: int
    ) -> HTMLResponse:
        return render(
            request,
            f"{self.templates}/new.html",
            {"values": values, "errors": errors, **self.context},
            status_code=status_code,
        )

    def detail_page(
        self,
        request: Request,
        stored: Any,
        *,
        values: dict[str, Any] | None = None,
        errors: FieldErrors | None = None,
        saved: str | None = None,
        delete_error: str | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        return render(
            request,
            f"{self.templates}/detail.html",
            {
                self.resource: stored,
                "values": values if values is not None else self.values(stored),
                "errors": errors or {},
                **self.context,
                "saved": saved,
                "delete_error": delete_error,
            },
            status_code=status_code,
        )

    def install(self, router: APIRouter) -> None:
        """Add the pages' routes to ``router``."""
        resource, path = self.resource, self.path

        def new_form(request: Request, user: PageUser) -> HTMLResponse:
            require(user, resource, "create")
            return self.new_page(request, values=self.blank(user), errors={}, status_code=200)

        def create(request: Request, user: PageUser, db: Db, form: PageForm) -> Response:
            check_csrf(request, form.csrf_token)
            require(user, resource, "create")
            errors: FieldErrors = {}
            body = {"key": form.key.strip(), **self.body(form, errors)}  # type: ignore[attr-defined]

            def created(data: Any) -> Response:
                stored = self.create(db, actor=user, data=data)
                return RedirectResponse(f"{path}/{stored.key}?saved=created", status_code=303)

            def again(errors: FieldErrors, status_code: int) -> Response:
                values = self.typed(form)
                return self.new_page(request, values=values, errors=errors, status_code=status_code)

            validate = self.create_schema.model_validate
            return submit(db, validate, body, created, again, self.describe, errors=errors)

        def detail(
            request: Request, user: PageUser, db: Db, key: str, saved: Saved = None
        ) -> HTMLResponse:
            require(user, resource, "read")
            return self.detail_page(request, self.get(db, key=key), saved=saved)

        def edit(request: Request, user: PageUser, db: Db, key: str, form: PageForm) -> Response:
            check_csrf(request, form.csrf_token)
            require(user, resource, "update")
            values = {**self.typed(form), "key": self.get(db, key=key).key}
            errors: FieldErrors = {}
            body = self.body(form, errors)
            version = if_match(form.version)  # type: ignore[attr-defined]

            def updated(data: Any) -> Response:
                self.update(db, actor=user, key=key, data=data, if_match=version)
                return RedirectResponse(f"{path}/{key}?saved=updated", status_code=303)

            def again(errors: FieldErrors, status_code: int) -> Response:
                return self.detail_page(
                    request,
                    self.get(db, key=key),
                    values=values,
                    errors=errors,
                    status_code=status_code,
                )

            validate = self.update_schema.model_validate
            return submit(db, validate, body, updated, again, self.describe, errors=errors)

        def delete(
            request: Request,
            user: PageUser,
            db: Db,
            key: str,
            csrf_token: CsrfToken = "",
            version: Version = "",
        ) -> Response:
            check_csrf(request, csrf_token)
            require(user, resource, "delete")
            self.get(db, key=key)

            def deleted() -> Response:
                self.delete(db, actor=user, key=key, if_match=if_match(version))
                return RedirectResponse(f"{path}?deleted={key}", status_code=303)

            def refused(refusal: DomainError) -> Response:
                return self.detail_page(
                    request,
                    self.get(db, key=key),
                    delete_error=refusal.detail,
                    status_code=status_of(refusal),
                )

            return refusable(db, deleted, refused, DELETE_REFUSALS)

        key_type = Annotated[str, Path(min_length=1, max_length=self.key_length)]
        form_type = Annotated[self.form, Form()]  # type: ignore[name-defined]
        router.get(f"{path}/-/new")(new_form)
        router.post(f"{path}/-/new")(_typed(create, form=form_type))
        router.get(f"{path}/{{key}}")(_typed(detail, key=key_type))
        router.post(f"{path}/{{key}}")(_typed(edit, key=key_type, form=form_type))
        router.post(f"{path}/{{key}}/delete")(_typed(delete, key=key_type))


def _typed(handler: F, **annotations: Any) -> F:
    """``handler`` with the given parameters declared as ``annotations`` (what FastAPI
    reads to parse the request: this resource's form, its key's length)."""
    signature = inspect.signature(handler)
    handler.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            parameter.replace(annotation=annotations.get(name, parameter.annotation))
            for name, parameter in signature.parameters.items()
        ]
    )
    return handler
