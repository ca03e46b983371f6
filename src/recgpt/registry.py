"""One registry for every extension point, with versioned names (in the spirit of thinc's ``registry``).

    from recgpt import registry
    registry.retrievers.get("tar")       # the latest version of the family: TARRecommender ("tar.v1")
    registry.retrievers.get("ease.v1")   # a pinned version
    registry.backends.names()            # ["fake.v1", "llama-cpp.v1", "openai.v1", "torch.v1"]

Names are ``<family>.v<N>``. Configuration may name the family alone ("tar"), which means its latest
version; a saved model records its full name, so it loads with the code that made it. A change of defaults
that changes results becomes a new version beside the old one, never an edit of the old one.

Built-in entries are listed below as ``"module:attribute"`` strings and imported on first use, so listing or
validating names imports nothing heavy. Another package adds entries through an entry point in its
``pyproject.toml``::

    [project.entry-points."recgpt.retrievers"]
    "bpr.v1" = "my_package.bpr:BPRRecommender"

or at run time with ``registry.retrievers.register("bpr.v1", BPRRecommender)`` (also usable as a decorator).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import warnings
from typing import Any

from recgpt.errors import RecgptError, UnknownNameError

_NAME = re.compile(r"^(?P<family>[a-z0-9][a-z0-9_+-]*)\.v(?P<version>[1-9][0-9]*)$")
_MISSING = object()


class RegistryError(RecgptError):
    """A malformed name, or an entry whose target cannot be imported."""


def split_name(name: str) -> tuple[str, int]:
    """``("tar", 1)`` for ``"tar.v1"``; RegistryError for a name not of the form ``family.vN``."""
    match = _NAME.match(name)
    if match is None:
        raise RegistryError(f"{name!r} is not a versioned name such as 'tar.v1' (lowercase family, '.v', a number)")
    return match["family"], int(match["version"])


class Registry:
    """Named, versioned entries of one kind. ``builtins`` maps full names to ``"module:attribute"``."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str] | None = None):
        self.kind = kind
        self.group = group
        self._targets: dict[str, str] = {}
        self._objects: dict[str, Any] = {}
        for name, target in (builtins or {}).items():
            split_name(name)
            self._targets[name] = target
        self._entry_points_read = False

    # ------------------------------------------------------------------ adding
    def register(self, name: str, obj: Any = _MISSING) -> Any:
        """Add ``obj`` under ``name`` (``family.vN``); without ``obj``, a decorator that does so."""
        split_name(name)
        if obj is _MISSING:
            def decorate(target: Any) -> Any:
                return self.register(name, target)

            return decorate
        self._objects[name] = obj
        self._targets.pop(name, None)
        return obj

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for point in importlib.metadata.entry_points(group=self.group):
            try:
                split_name(point.name)
            except RegistryError as exc:
                warnings.warn(f"entry point {point.value!r} of group {self.group}: {exc}", stacklevel=2)
                continue
            if point.name in self._targets or point.name in self._objects:
                warnings.warn(f"entry point {point.name!r} ({point.value}) ignored: that {self.kind} name is "
                              "already taken", stacklevel=2)
                continue
            self._targets[point.name] = point.value

    # ------------------------------------------------------------------ finding
    def names(self) -> list[str]:
        """Every full name, ordered by family and version."""
        self._read_entry_points()
        return sorted(set(self._targets) | set(self._objects), key=split_name)

    def families(self) -> list[str]:
        return sorted({split_name(n)[0] for n in self.names()})

    def resolve(self, name: str) -> str:
        """The full name ``name`` stands for: itself, or the latest version of a family named alone."""
        names = self.names()
        if name in names:
            return name
        versions = [n for n in names if split_name(n)[0] == name]
        if versions:
            return versions[-1]
        known = ", ".join(names) or "none"
        raise UnknownNameError(f"unknown {self.kind} {name!r}; registered: {known}")

    def checked(self, name: str) -> str:
        """``name`` itself when it is registered; ValueError listing the registered names otherwise (what a
        configuration validator raises, so the error names the configuration key)."""
        try:
            self.resolve(name)
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        return name

    def __contains__(self, name: str) -> bool:
        try:
            self.resolve(name)
        except UnknownNameError:
            return False
        return True

    def get(self, name: str) -> Any:
        """The registered object (a class or a function), importing its module on first use."""
        full = self.resolve(name)
        if full not in self._objects:
            module_name, _, attr = self._targets[full].partition(":")
            try:
                obj = getattr(importlib.import_module(module_name), attr)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(f"{self.kind} {full!r}: cannot import {self._targets[full]}: {exc}") from exc
            self._objects[full] = obj
        return self._objects[full]

    def name_of(self, obj: Any) -> str:
        """The full name under which ``obj``, or the class of ``obj``, is registered."""
        for candidate in (obj, type(obj)):
            for name, registered in self._objects.items():
                if registered is candidate:
                    return name
            for name, where in self._targets.items():
                if where == _spelled(candidate):
                    return name
        raise UnknownNameError(f"{_spelled(type(obj))} is not a registered {self.kind}; registered: "
                               f"{', '.join(self.names()) or 'none'}")

    def describe(self) -> list[tuple[str, str, str]]:
        """(full name, where it lives, first line of its docstring) for every entry; imports each."""
        rows = []
        for name in self.names():
            where = self._targets.get(name) or _spelled(self._objects[name])
            try:
                doc = (self.get(name).__doc__ or "").strip().splitlines()
            except RegistryError as exc:
                doc = [f"(cannot import: {exc})"]
            rows.append((name, where, doc[0] if doc else ""))
        return rows


def _spelled(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


backends = Registry("LLM backend", "recgpt.backends", {
    "fake.v1": "recgpt.llm.fake:FakeBackend",
    "llama-cpp.v1": "recgpt.llm.llama_cpp_backend:LlamaCppBackend",
    "openai.v1": "recgpt.llm.openai_backend:OpenAIBackend",
    "torch.v1": "recgpt.llm.torch_backend:TorchBackend",
})
retrievers = Registry("retriever", "recgpt.retrievers", {
    "popular.v1": "recgpt.retrieval.baselines:PopularRecommender",
    "ease.v1": "recgpt.retrieval.baselines:EASERecommender",
    "itemknn.v1": "recgpt.retrieval.baselines:ItemKNNRecommender",
    "tar.v1": "recgpt.retrieval.tar:TARRecommender",
    "sasrec.v1": "recgpt.retrieval.sasrec:SASRecRecommender",
})
indexes = Registry("vector index", "recgpt.indexes", {
    "exact.v1": "recgpt.retrieval.index:ExactIndex",
    "hnsw.v1": "recgpt.retrieval.index:HNSWIndex",
    "ivf.v1": "recgpt.retrieval.index:IVFIndex",
})
loaders = Registry("data loader", "recgpt.loaders", {
    "amazon-office.v1": "recgpt.data.loaders.amazon:AmazonOfficeLoader",
    "taobao.v1": "recgpt.data.loaders.taobao:TaobaoLoader",
    "custom.v1": "recgpt.data.loaders.custom:CustomLoader",
})
#: Where per-request LLM work and batch retrieval run: this process, or a Ray cluster.
executors = Registry("executor", "recgpt.executors", {
    "local.v1": "recgpt.executors.local:LocalExecutor",
    "ray.v1": "recgpt.executors.ray_executor:RayExecutor",
})
#: Trainers of the stage models (fine-tuning registers here).
trainers = Registry("trainer", "recgpt.trainers", {})
#: Builders of curriculum subtasks (report Appendix C): (catalog, logs, options) -> training samples.
subtasks = Registry("curriculum subtask builder", "recgpt.subtasks", {
    "title-keyinfo.v1": "recgpt.alignment.subtasks:title_keyinfo",
    "title-category.v1": "recgpt.alignment.subtasks:title_category",
    "query-category.v1": "recgpt.alignment.subtasks:query_category",
    "query-item-relevance.v1": "recgpt.alignment.subtasks:query_item_relevance",
    "what-to-buy.v1": "recgpt.alignment.subtasks:what_to_buy",
    "stage-set.v1": "recgpt.alignment.subtasks:stage_set",
})

#: Scorers of seral's serendipity candidates (``score(pairs) -> judgments``), each passing
#: tests/suites/seral_scorer.py.
seral_scorers = Registry("seral scorer", "recgpt.seral_scorers", {
    "popular-new.v1": "recgpt.seral.scorers:PopularNewScorer",
    "random.v1": "recgpt.seral.scorers:RandomScorer",
    "serengpt.v1": "recgpt.seral.serengpt:SerenGPTScorer",
    "serengpt-pref.v1": "recgpt.seral.serengpt:SerenGPTPreferenceScorer",
})

REGISTRIES: dict[str, Registry] = {
    "backends": backends, "retrievers": retrievers, "indexes": indexes, "loaders": loaders,
    "executors": executors, "trainers": trainers, "subtasks": subtasks, "seral_scorers": seral_scorers,
}


def family_of(name: str) -> str:
    """``"tar"`` for ``"tar"`` or ``"tar.v1"``."""
    return split_name(name)[0] if _NAME.match(name) else name

