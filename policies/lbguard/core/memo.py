"""A function's value computed once per object, the object known by its identity."""

from __future__ import annotations

from typing import Any, Callable


class ByIdentity:
    """``fn(obj)`` once per live object. Each entry holds its object, so an id is never
    reused while it is cached; with ``limit``, the cache starts again when it is full."""

    def __init__(self, fn: Callable[[Any], Any], limit: int | None = None):
        self._fn, self._limit = fn, limit
        self._cache: dict[int, tuple[Any, Any]] = {}

    def __call__(self, obj: Any) -> Any:
        hit = self._cache.get(id(obj))
        if hit is None or hit[0] is not obj:
            if self._limit is not None and len(self._cache) >= self._limit:
                self._cache.clear()
            hit = self._cache[id(obj)] = (obj, self._fn(obj))
        return hit[1]
