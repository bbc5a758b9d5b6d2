"""A small evaluator for the metric-math subset the alarms use, at one timestamp.

A metric with no datapoint is ``None`` (ALB publishes nothing for a zero minute) and
``None`` propagates through arithmetic, as a missing point does in CloudWatch; FILL
replaces it. Division by zero gives no value. Enough to check what an alarm's
expression *computes*, not only how it reads.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


class V:
    def __init__(self, x: float | None):
        self.x = None if x is None else float(x)

    def _op(self, other: Any, fn) -> "V":
        o = other.x if isinstance(other, V) else other
        if self.x is None or o is None:
            return V(None)
        try:
            return V(fn(self.x, float(o)))
        except ZeroDivisionError:
            return V(None)

    __add__ = lambda s, o: s._op(o, lambda a, b: a + b)
    __radd__ = lambda s, o: s._op(o, lambda a, b: b + a)
    __sub__ = lambda s, o: s._op(o, lambda a, b: a - b)
    __rsub__ = lambda s, o: s._op(o, lambda a, b: b - a)
    __mul__ = lambda s, o: s._op(o, lambda a, b: a * b)
    __rmul__ = lambda s, o: s._op(o, lambda a, b: b * a)
    __truediv__ = lambda s, o: s._op(o, lambda a, b: a / b)
    __rtruediv__ = lambda s, o: s._op(o, lambda a, b: b / a)
    __gt__ = lambda s, o: s._op(o, lambda a, b: float(a > b))
    __ge__ = lambda s, o: s._op(o, lambda a, b: float(a >= b))
    __lt__ = lambda s, o: s._op(o, lambda a, b: float(a < b))
    __le__ = lambda s, o: s._op(o, lambda a, b: float(a <= b))
    __neg__ = lambda s: V(None if s.x is None else -s.x)


def _v(x: Any) -> V:
    return x if isinstance(x, V) else V(x)


def _array(fn):
    def apply(values: Sequence[Any]) -> V:
        xs = [_v(v).x for v in values]
        return V(None) if any(x is None for x in xs) else V(fn(xs))
    return apply


FUNCTIONS = {
    "FILL": lambda v, d: V(d) if _v(v).x is None else _v(v),
    "IF": lambda c, a, b: V(None) if _v(c).x is None else (_v(a) if _v(c).x else _v(b)),
    "ABS": lambda v: V(None if _v(v).x is None else abs(_v(v).x)),
    "MAX": _array(max),
    "MIN": _array(min),
    "SUM": _array(sum),
    "AVG": _array(lambda xs: sum(xs) / len(xs)),
}


def evaluate(queries: Sequence[Mapping[str, Any]], metrics: Mapping[str, float | None]) -> float | None:
    """Value of the query with ReturnData true; ``metrics`` maps metric query ids to values.

    ``queries`` in the PutMetricAlarm shape AWS returns (Id / Expression / ReturnData).
    """
    env: dict[str, V] = {}
    result = None
    for q in queries:
        if q.get("Expression"):
            env[q["Id"]] = _v(eval(q["Expression"], {"__builtins__": {}}, {**FUNCTIONS, **env}))  # noqa: S307
        else:
            env[q["Id"]] = V(metrics.get(q["Id"]))
        if q.get("ReturnData"):
            result = env[q["Id"]].x
    return result
