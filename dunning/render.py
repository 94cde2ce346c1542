"""Templates under one folder rendered from values the code already formatted."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2
from jinja2 import meta

from dunning.errors import TemplateError


class Renderer:
    """Renders ``templates_dir``: ``.html`` escaped, ``.txt`` verbatim.

    Usage: ``Renderer(settings.templates_dir).render("sms/early.txt", context)``
    """

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = templates_dir
        self._loader = jinja2.FileSystemLoader(templates_dir)
        self._env = jinja2.Environment(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html"]),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._variables: dict[str, frozenset[str]] = {}

    def variables(self, name: str) -> frozenset[str]:
        """Names the template reads from its context: what a caller must give."""
        if name not in self._variables:
            try:
                source, _, _ = self._loader.get_source(self._env, name)
                ast = self._env.parse(source, name)
            except jinja2.TemplateError as exc:
                raise self._error(name, exc) from exc
            found = meta.find_undeclared_variables(ast) - self._env.globals.keys()
            self._variables[name] = frozenset(found)
        return self._variables[name]

    def render(self, name: str, context: Mapping[str, object]) -> str:
        # Checked up front so a value missing from a branch not taken today
        # still fails, and every missing name is reported at once.
        missing = sorted(self.variables(name) - context.keys())
        if missing:
            names = ", ".join(repr(variable) for variable in missing)
            raise TemplateError(name, f"no value given for variable {names}")
        try:
            return self._env.get_template(name).render(dict(context))
        except jinja2.TemplateError as exc:
            raise self._error(name, exc) from exc

    def _error(self, name: str, exc: jinja2.TemplateError) -> TemplateError:
        if isinstance(exc, jinja2.TemplateNotFound):
            return TemplateError(
                name, f"{exc.name!r} not found in {self.templates_dir}"
            )
        if isinstance(exc, jinja2.UndefinedError):
            return TemplateError(name, f"undefined variable: {exc.message}")
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return TemplateError(name, f"line {exc.lineno}: {exc.message}")
        return TemplateError(name, str(exc))
