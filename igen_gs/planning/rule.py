"""Offline rule-based planner: common English instructions -> a :class:`Plan`.

Understood (case- and plural-tolerant, articles optional, several clauses joined by "then",
"and then", ";" or "."):

* "pick up the mug", "grab the red block"
* "put / place / set the red block on / onto / in / into the blue plate"
* "stack A on (top of) B"
* "move / put / place the cup to the left of / right of / in front of / behind / next to the
  bowl"
* "push the box forward / backward / left / right 10 cm" (mm, cm, m; default 10 cm)
* "lift the mug (by 15 cm)", "tilt / pour the mug (by 60 degrees)"

Object phrases are matched against the scene's object names ("it" / "them" refer to the
previous clause's object); a phrase that names no object raises a ValueError listing the
known ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .types import Plan, Step

_ARTICLES = r"(?:the|a|an|that|this)\s+"
_OBJ = r"(?:" + _ARTICLES + r")?(?P<{}>[a-z0-9][a-z0-9 \-_.]*?)"
_UNIT = {"mm": 0.001, "millimeter": 0.001, "millimeters": 0.001, "millimetre": 0.001,
         "millimetres": 0.001, "cm": 0.01, "centimeter": 0.01, "centimeters": 0.01,
         "centimetre": 0.01, "centimetres": 0.01, "m": 1.0, "meter": 1.0, "meters": 1.0,
         "metre": 1.0, "metres": 1.0}
_DIST = r"(?:\s+(?:by\s+)?(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>mm|cm|m|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?))?"  # noqa: E501
_RELATION_WORDS = {
    "on": "on", "onto": "on", "on top of": "on", "in": "in", "into": "in", "inside": "in",
    "to the left of": "left_of", "left of": "left_of", "to the right of": "right_of",
    "right of": "right_of", "in front of": "in_front_of", "behind": "behind",
    "next to": "right_of", "beside": "right_of",
}
_BESIDE = r"(?P<rel>to the left of|left of|to the right of|right of|in front of|behind|next to|beside)"  # noqa: E501


def _o(name: str) -> str:
    return _OBJ.format(name)


_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("stack", re.compile(r"^stack\s+" + _o("a") + r"\s+(?:on top of|onto|on)\s+" + _o("b") + r"$")),
    ("move_to", re.compile(r"^(?:move|put|place|set|slide)\s+" + _o("a") + r"\s+" + _BESIDE +
                           r"\s+" + _o("b") + r"$")),
    ("place", re.compile(r"^(?:put|place|set|drop|move)\s+" + _o("a") +
                         r"\s+(?P<rel>on top of|onto|on|into|in|inside)\s+" + _o("b") + r"$")),
    ("push", re.compile(r"^(?:push|slide|shove)\s+" + _o("a") +
                        r"\s+(?P<dir>forward|forwards|backward|backwards|back|left|right)" +
                        _DIST + r"$")),
    ("lift", re.compile(r"^(?:lift|raise)\s+(?:up\s+)?" + _o("a") + r"(?:\s+up)?" + _DIST + r"$")),
    ("tilt", re.compile(r"^(?:tilt|pour|tip)\s+(?:out\s+)?" + _o("a") +
                        r"(?:\s+(?:by\s+)?(?P<deg>-?\d+(?:\.\d+)?)\s*(?:deg|degrees|°))?$")),
    ("pick", re.compile(r"^(?:pick up|pick|grab|grasp|take|get)\s+" + _o("a") + r"(?:\s+up)?$")),
]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _norm_words(text: str) -> list[str]:
    return [_singular(w) for w in re.findall(r"[a-z0-9]+", text.lower())]


def match_object(phrase: str, names: Sequence[str]) -> str:
    """The scene object a phrase names: exact (singularised) match first, else the object
    whose words all occur in the phrase (longest name wins). ValueError if none or ambiguous."""
    words = _norm_words(phrase)
    if not words:
        raise ValueError(f"empty object phrase; known objects: {', '.join(names)}")
    exact = [n for n in names if _norm_words(n) == words]
    if len(exact) == 1:
        return exact[0]
    contained = [n for n in names if set(_norm_words(n)) <= set(words)]
    if contained:
        best = max(len(_norm_words(n)) for n in contained)
        top = [n for n in contained if len(_norm_words(n)) == best]
        if len(top) == 1:
            return top[0]
        raise ValueError(f"{phrase!r} is ambiguous: it could be {', '.join(top)}")
    # A phrase naming only part of one object ("block" for "red block").
    partial = [n for n in names if set(words) <= set(_norm_words(n))]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise ValueError(f"{phrase!r} is ambiguous: it could be {', '.join(partial)}")
    raise ValueError(f"no object called {phrase!r} in the scene; known objects: "
                     f"{', '.join(names) or '(none)'}")


def _distance(m: re.Match, default: float) -> float:
    if m.group("num") is None:
        return default
    return float(m.group("num")) * _UNIT[m.group("unit")]


_PRONOUNS = {"it", "them", "that", "this", "that one", "this one", "one"}


def _clause_steps(clause: str, names: Sequence[str], held: str | None,
                  last: str | None) -> list[Step]:
    for kind, pat in _PATTERNS:
        m = pat.match(clause)
        if not m:
            continue
        if m.group("a").strip() in _PRONOUNS:
            if last is None:
                raise ValueError(f"{m.group('a')!r} in {clause!r} refers to no earlier object")
            a = last
        else:
            a = match_object(m.group("a"), names)
        if kind == "pick":
            return [Step("pick", a)]
        if kind in ("place", "stack"):
            b = match_object(m.group("b"), names)
            if a == b:
                raise ValueError(f"cannot put {a!r} on itself")
            rel = "on" if kind == "stack" else _RELATION_WORDS[m.group("rel")]
            pre = [] if held == a else [Step("pick", a)]
            return pre + [Step(kind, a, b, rel)]
        if kind == "move_to":
            b = match_object(m.group("b"), names)
            if a == b:
                raise ValueError(f"cannot move {a!r} next to itself")
            return [Step("move_to", a, b, _RELATION_WORDS[m.group("rel")])]
        if kind == "push":
            d = {"forwards": "forward", "backwards": "backward", "back": "backward"}.get(
                m.group("dir"), m.group("dir"))
            return [Step("push", a, direction=d, distance_m=_distance(m, 0.10))]
        if kind == "lift":
            return [Step("lift", a, height_m=_distance(m, 0.10))]
        if kind == "tilt":
            deg = float(m.group("deg")) if m.group("deg") else 90.0
            return [Step("tilt", a, angle_deg=deg)]
    raise ValueError(f"cannot understand {clause!r}; try e.g. 'pick up the X', 'put the X on "
                     "the Y', 'move the X to the left of the Y', 'push the X forward 10 cm', "
                     "'stack X on Y'")


def rule_plan(instruction: str, object_names: Sequence[str]) -> Plan:
    """Parse ``instruction`` into a plan over ``object_names``."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("the instruction is empty")
    text = instruction.lower().replace(",", " , ")
    clauses = re.split(r"\s*(?:\band then\b|\bthen\b|;|\.(?!\d)|,\s*and\b|,)\s*", text)
    steps: list[Step] = []
    held: str | None = None
    last: str | None = None
    for clause in (c.strip(" .!?") for c in clauses):
        clause = re.sub(r"^(?:please|and|now|first|finally|next)\s+", "", clause)
        clause = re.sub(r"\s+please$", "", clause)
        clause = re.sub(r"\s+", " ", clause).strip()
        if not clause:
            continue
        new = _clause_steps(clause, object_names, held, last)
        steps += new
        held = new[-1].object if new[-1].action == "pick" else None
        last = new[-1].object
    if not steps:
        raise ValueError(f"no steps found in {instruction!r}")
    return Plan(instruction, steps, "rule")
