"""Griffe extension: the API pages show the public API only.

A name is public when a user reaches it through ``__all__``: every package (``__init__``) and
every module listed in ``namespaces`` is a namespace; the names in a namespace's ``__all__`` are
public, and a module among them is a namespace in turn. Every other module-level object is
marked ``public = False``, so the handler's ``filters: public`` hides internal helpers
(``check_beta_vector``, ``MAX_*``) that live in implementation modules without being exported.
Members of classes whose names start with an underscore (``__call__`` included) stay hidden,
as with the ``!^_`` filter.
"""

from __future__ import annotations

from typing import Any

import griffe


def _target_path(obj: griffe.Object | griffe.Alias) -> str:
    if not obj.is_alias:
        return obj.path
    try:
        return obj.final_target.path
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return obj.target_path


def _modules(module: griffe.Module):
    yield module
    for sub in module.modules.values():
        if not sub.is_alias:
            yield from _modules(sub)


def public_paths(pkg: griffe.Module, namespaces: set[str]) -> set[str]:
    """The paths of the objects reachable through ``__all__`` from the namespaces of ``pkg``."""
    collection = pkg.modules_collection
    todo = [m for m in _modules(pkg) if m.is_init_module or m.path in namespaces]
    public: set[str] = {m.path for m in todo}
    while todo:
        module = todo.pop()
        names = (
            module.exports
            if module.exports is not None
            else [name for name, member in module.members.items() if member.is_public]
        )
        for name in names:
            # An import wins over a submodule of the same name (``partition.exact`` the function).
            if name in module.imports:
                path = module.imports[name]
            elif name in module.members:
                path = _target_path(module.members[name])
            else:
                continue
            if path in public:
                continue
            public.add(path)
            try:
                target = collection.get_member(path)
            except KeyError:
                continue  # defined outside the loaded packages
            if isinstance(target, griffe.Module):
                todo.append(target)
    return public


class PublicAPI(griffe.Extension):
    """Mark the module-level objects that no namespace exports as not public."""

    def __init__(self, namespaces: list[str] | None = None) -> None:
        self.namespaces = set(namespaces or [])

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        public = public_paths(pkg, self.namespaces)
        for module in _modules(pkg):
            namespace = module.path in public
            for member in module.members.values():
                if member.is_alias:
                    if not namespace:  # an import into an implementation module
                        member.public = False
                elif not member.is_module:
                    member.public = member.path in public
                    if member.is_class:
                        _hide_underscored(member)


def _hide_underscored(cls: griffe.Class) -> None:
    for name, member in cls.members.items():
        if name.startswith("_") and not member.is_alias:
            member.public = False
