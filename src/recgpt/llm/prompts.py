"""Versioned prompt templates: ``templates/<task>/v<N>.j2`` rendered with Jinja2 (StrictUndefined).

A task's latest version is the highest N among the roots searched (extra roots from the configuration
first, then the packaged ``recgpt/llm/templates``). A missing variable is an error naming the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from recgpt.errors import RecgptError

PACKAGED_TEMPLATES = Path(__file__).parent / "templates"
_VERSION_FILE = re.compile(r"^v(\d+)\.j2$")


class TemplateError(RecgptError, ValueError):
    """A template is missing, or rendering it failed; the message names the template file."""


@dataclass(frozen=True)
class RenderedPrompt:
    task: str
    version: str  # "v<N>"
    text: str


def normalize_version(version: str | int | None) -> int | None:
    """``"v2"``, ``"2"`` and ``2`` all mean version 2; ``None`` means latest."""
    if version is None:
        return None
    text = str(version).strip().lower().removeprefix("v")
    if not text.isdigit():
        raise TemplateError(f"template version {version!r} is not of the form v<N>")
    return int(text)


class PromptLibrary:
    """Finds and renders templates; compiled templates are kept for the life of the library."""

    def __init__(self, extra_roots: list[str | Path] | None = None):
        self.roots = [Path(r) for r in (extra_roots or [])] + [PACKAGED_TEMPLATES]
        self._env = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,
        )
        self._compiled: dict[Path, jinja2.Template] = {}
        self._resolved: dict[tuple[str, int | None], tuple[str, Path]] = {}

    def versions(self, task: str) -> dict[int, Path]:
        """All versions of ``task``: {N: file}; earlier roots win when two define the same N."""
        found: dict[int, Path] = {}
        for root in reversed(self.roots):
            folder = root / task
            if folder.is_dir():
                for file in folder.iterdir():
                    match = _VERSION_FILE.match(file.name)
                    if match:
                        found[int(match.group(1))] = file
        return found

    def tasks(self) -> list[str]:
        return sorted({d.name for root in self.roots if root.is_dir() for d in root.iterdir() if d.is_dir()})

    def resolve(self, task: str, version: str | int | None = None) -> tuple[str, Path]:
        """("v<N>", file) of ``task``'s requested or latest version; looked up once per library."""
        wanted = normalize_version(version)
        found = self._resolved.get((task, wanted))
        if found is None:
            found = self._resolved[(task, wanted)] = self._resolve(task, wanted)
        return found

    def _resolve(self, task: str, wanted: int | None) -> tuple[str, Path]:
        versions = self.versions(task)
        if not versions:
            raise TemplateError(
                f"no template for task {task!r} (looked for {task}/v<N>.j2 under "
                f"{', '.join(str(r) for r in self.roots)}; known tasks: {', '.join(self.tasks()) or 'none'})"
            )
        number = max(versions) if wanted is None else wanted
        if number not in versions:
            raise TemplateError(f"task {task!r} has no version v{number} (has {sorted(versions)})")
        return f"v{number}", versions[number]

    def render(self, task: str, variables: dict[str, Any], version: str | int | None = None) -> RenderedPrompt:
        tag, path = self.resolve(task, version)
        template = self._compiled.get(path)
        if template is None:
            try:
                template = self._env.from_string(path.read_text(encoding="utf-8"))
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{path}:{exc.lineno}: {exc.message}") from exc
            self._compiled[path] = template
        try:
            text = template.render(**variables)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{path}: {exc.message} (variables given: {sorted(variables)})") from exc
        return RenderedPrompt(task, tag, text.strip())
