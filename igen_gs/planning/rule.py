"""Offline rule-based planner: common English instructions -> a :class:`Plan`.

Understood (case- and plural-tolerant, articles optional, several clauses joined by "then",
"and then", "and" before a verb, ";" or "."):

* "pick up the mug", "grab the red block", "pick the mug up"
* "put / place / set / move the red block on / onto / in / into / to the blue plate"
* "stack A on (top of) B"
* "move / put / place the cup to the left of / right of / in front of / behind / next to the
  bowl"
* "move the cup forward 10 cm", "move the cup 10 cm to the left" (pick and place it there)
* "push the box forward / backward / left / right 10 cm", "push the box 5 cm to the left"
  (mm, cm, m; default 10 cm)
* "lift the mug (by 15 cm)", "tilt / pour / tip the mug (by 60 degrees)"
* "rotate / turn the mug (by 45 degrees)" (about the vertical, put back where it was)
* "water the flowers / the pot with the can (by 50 degrees)", "pour / tip / tilt the can over
  / into the pot", "pour water on the plant with the can" (a ``pour``: spout over the target,
  tilt, back, put the can back; default 60 degrees; "the flowers" / "the plant" name the one
  flower pot, plant or vase of the scene when no object is called so; without "with the X"
  the held object, else the one can / jug / kettle / bottle)
* "hit / strike / knock / punch the box (forward / to the left ...) (at 0.2 m/s) (with the
  gripper)" (a ``strike`` with the closed gripper; default forward at 0.15 m/s; m/s, cm/s,
  mm/s)

Object phrases are matched against the scene's object names ("it" / "them" refer to the
previous clause's object); a phrase that names no object, or two, raises a ValueError listing
the known ones. ``pour`` and ``strike`` run on the stage executor (see
:func:`igen_gs.planning.keypoint_planner.rule_plan_to_stages`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .types import POUR_DEG, STRIKE_MPS, Plan, Step

_ARTICLES = r"(?:the|a|an|that|this)\s+"
_OBJ = r"(?:" + _ARTICLES + r")?(?P<{}>[a-z0-9][a-z0-9 \-_.]*?)"
_UNIT = {"mm": 0.001, "millimeter": 0.001, "millimeters": 0.001, "millimetre": 0.001,
         "millimetres": 0.001, "cm": 0.01, "centimeter": 0.01, "centimeters": 0.01,
         "centimetre": 0.01, "centimetres": 0.01, "m": 1.0, "meter": 1.0, "meters": 1.0,
         "metre": 1.0, "metres": 1.0}
_DIST_BARE = r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>mm|cm|m|millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?)"  # noqa: E501
_DIST = r"(?:\s+(?:by\s+)?" + _DIST_BARE + r")?"
_DIR = r"(?:to\s+the\s+|towards?\s+the\s+)?(?P<dir>forwards?|ahead|away|backwards?|back|left|right)"  # noqa: E501
# A direction with an optional distance before or after it ("5 cm to the left", "left 5 cm").
_DIR_DIST = (r"(?:(?:by\s+)?" + _DIST_BARE.replace("num", "num0").replace("unit", "unit0") +
             r"\s+)?" + _DIR + _DIST)
_DEG = r"(?:\s+(?:by\s+)?(?P<deg>-?\d+(?:\.\d+)?)\s*(?:deg|degrees?|°))?"
_RELATION_WORDS = {
    "on": "on", "onto": "on", "on top of": "on", "to": "on", "in": "in", "into": "in",
    "inside": "in", "to the left of": "left_of", "left of": "left_of",
    "to the right of": "right_of", "right of": "right_of", "in front of": "in_front_of",
    "behind": "behind", "next to": "right_of", "beside": "right_of",
}
_BESIDE = r"(?P<rel>to the left of|left of|to the right of|right of|in front of|behind|next to|beside)"  # noqa: E501
_VERBS = ("pick", "grab", "grasp", "take", "get", "put", "place", "set", "drop", "move", "slide",
          "shove", "push", "stack", "lift", "raise", "tilt", "pour", "tip", "rotate", "turn",
          "water", "empty", "hit", "strike", "knock", "punch", "tap", "bump")
_SPEED = r"(?:\s+at\s+(?P<speed>\d+(?:\.\d+)?)\s*(?P<sunit>m/s|cm/s|mm/s))?"
_SPEED_UNIT = {"m/s": 1.0, "cm/s": 0.01, "mm/s": 0.001}
_WITH_HAND = r"(?:\s+with\s+(?:the\s+|a\s+|its\s+)?(?:closed\s+)?(?:gripper|hand|fingers|fist))?"
# "the flowers" / "the plant": the scene's one flower pot / planter / vase when no object is
# called so; a container to water with, when "with the X" is not said.
_PLANT_WORDS = ("flower", "plant", "pot", "planter", "vase", "garden")
_POURER_WORDS = ("watering", "can", "jug", "kettle", "pitcher", "bottle")


def _o(name: str) -> str:
    return _OBJ.format(name)


_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("stack", re.compile(r"^stack\s+" + _o("a") + r"\s+(?:on top of|onto|on)\s+" + _o("b") + r"$")),
    ("move_to", re.compile(r"^(?:move|put|place|set|slide)\s+" + _o("a") + r"\s+" + _BESIDE +
                           r"\s+" + _o("b") + r"$")),
    ("place", re.compile(r"^(?:put|place|set|drop|move)\s+" + _o("a") +
                         r"\s+(?P<rel>on top of|onto|on|into|in|inside)\s+" + _o("b") + r"$")),
    ("push", re.compile(r"^(?:push|shove|slide|nudge)\s+" + _o("a") + r"\s+" + _DIR_DIST + r"$")),
    ("shift", re.compile(r"^(?:move|put|place|set|carry)\s+" + _o("a") + r"\s+" + _DIR_DIST +
                         r"$")),
    ("place", re.compile(r"^(?:move|bring|carry)\s+" + _o("a") + r"\s+(?P<rel>to)\s+" +
                         _o("b") + r"$")),
    ("lift", re.compile(r"^(?:lift|raise)\s+(?:up\s+)?" + _o("a") + r"(?:\s+up)?" + _DIST + r"$")),
    ("water", re.compile(r"^water\s+" + _o("b") + r"(?:\s+(?:with|using)\s+" + _o("a") + r")?" +
                         _DEG + r"$")),
    ("water", re.compile(r"^(?:pour|sprinkle)\s+water\s+(?:over|into|onto|on|in)\s+" + _o("b") +
                         r"(?:\s+(?:with|using|from)\s+" + _o("a") + r")?" + _DEG + r"$")),
    ("pour", re.compile(r"^(?:pour|tip|tilt|empty)\s+(?:out\s+)?" + _o("a") +
                        r"\s+(?:over|into|onto|on|in)\s+" + _o("b") + _DEG + r"$")),
    ("strike", re.compile(r"^(?:hit|strike|knock|punch|tap|bump)\s+(?:into\s+|on\s+)?" + _o("a") +
                          r"(?:\s+" + _DIR + r")?" + _WITH_HAND + _SPEED + _WITH_HAND + r"$")),
    ("tilt", re.compile(r"^(?:tilt|pour|tip)\s+(?:out\s+)?(?:over\s+)?" + _o("a") + r"(?:\s+over)?"
                        + _DEG + r"$")),
    ("rotate", re.compile(r"^(?:rotate|turn)\s+(?:around\s+)?" + _o("a") + r"(?:\s+around)?" +
                          _DEG + r"$")),
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
    whose words all occur in the phrase (a longer name containing a shorter one wins), else the
    one object whose name contains all the phrase's words. ValueError if none or ambiguous."""
    words = _norm_words(phrase)
    if not words:
        raise ValueError(f"empty object phrase; known objects: {', '.join(names)}")
    exact = [n for n in names if _norm_words(n) == words]
    if len(exact) == 1:
        return exact[0]
    if "and" in words and not any("and" in _norm_words(n) for n in names):
        raise ValueError(f"{phrase!r} names more than one object; the gripper handles one at a "
                         "time (write one clause per object)")
    contained = [n for n in names if set(_norm_words(n)) <= set(words)]
    # Names inside a longer contained name ("block" in "red block") do not count on their own.
    top = [n for n in contained
           if not any(m != n and set(_norm_words(n)) < set(_norm_words(m)) for m in contained)]
    if len(top) == 1:
        return top[0]
    if len(top) > 1:
        raise ValueError(f"{phrase!r} is ambiguous: it could be {', '.join(top)}; known "
                         f"objects: {', '.join(names)}")
    # A phrase naming only part of one object ("block" for "red block").
    partial = [n for n in names if set(words) <= set(_norm_words(n))]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise ValueError(f"{phrase!r} is ambiguous: it could be {', '.join(partial)}")
    raise ValueError(f"no object called {phrase!r} in the scene; known objects: "
                     f"{', '.join(names) or '(none)'}")


def _distance(m: re.Match, default: float) -> float:
    """The distance of a match (before or after its direction), metres."""
    groups = m.groupdict()
    for num, unit in (("num0", "unit0"), ("num", "unit")):
        if groups.get(num) is not None:
            return float(groups[num]) * _UNIT[groups[unit]]
    return default


_DIRECTIONS = {"forwards": "forward", "ahead": "forward", "away": "forward",
               "backwards": "backward", "back": "backward"}


_PRONOUNS = {"it", "them", "that", "this", "that one", "this one", "one"}


def _plant_holder(phrase: str, names: Sequence[str]) -> str:
    """The object a watering target phrase names; "the flowers" / "the plants" (no object
    called so) name the scene's one flower pot / planter / vase."""
    try:
        return match_object(phrase, names)
    except ValueError as e:
        words = set(_norm_words(phrase)) - {"the", "a", "an", "some"}
        if not str(e).startswith("no object called") or not words <= set(_PLANT_WORDS):
            raise
        holders = [n for n in names if set(_norm_words(n)) & set(_PLANT_WORDS)]
        if len(holders) != 1:
            raise
        return holders[0]


def _pourer(clause: str, names: Sequence[str], target: str, held: str | None) -> str:
    """What waters when the clause does not say: the held object, else the scene's one can /
    jug / kettle / bottle (not the target)."""
    if held is not None and held != target:
        return held
    cans = [n for n in names if n != target and set(_norm_words(n)) & set(_POURER_WORDS)]
    if len(cans) == 1:
        return cans[0]
    raise ValueError(f"{clause!r} does not say what to pour with; say 'with the X' (known "
                     f"objects: {', '.join(names)})")


def _clause_steps(clause: str, names: Sequence[str], held: str | None,
                  last: str | None) -> list[Step]:
    for kind, pat in _PATTERNS:
        m = pat.match(clause)
        if not m:
            continue
        deg = m.groupdict().get("deg")
        if kind == "water" and m.group("a") is None:
            b = _plant_holder(m.group("b"), names)
            return [Step("pour", _pourer(clause, names, b, held), b,
                         angle_deg=float(deg) if deg else POUR_DEG)]
        if m.group("a").strip() in _PRONOUNS:
            if last is None:
                raise ValueError(f"{m.group('a')!r} in {clause!r} refers to no earlier object")
            a = last
        else:
            a = match_object(m.group("a"), names)
        if kind == "pick":
            return [Step("pick", a)]
        if kind in ("water", "pour"):
            b = _plant_holder(m.group("b"), names)
            if a == b:
                raise ValueError(f"cannot pour {a!r} over itself")
            return [Step("pour", a, b, angle_deg=float(deg) if deg else POUR_DEG)]
        if kind == "strike":
            d = _DIRECTIONS.get(m.group("dir"), m.group("dir")) or "forward"
            speed = (float(m.group("speed")) * _SPEED_UNIT[m.group("sunit")]
                     if m.group("speed") else STRIKE_MPS)
            if speed <= 0:
                raise ValueError(f"the strike speed in {clause!r} must be above 0 m/s")
            return [Step("strike", a, direction=d, speed_mps=speed)]
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
        if kind in ("push", "shift"):
            d = _DIRECTIONS.get(m.group("dir"), m.group("dir"))
            if kind == "push":
                return [Step("push", a, direction=d, distance_m=_distance(m, 0.10))]
            return [Step("move_to", a, direction=d, distance_m=_distance(m, 0.10))]
        if kind == "lift":
            return [Step("lift", a, height_m=_distance(m, 0.10))]
        if kind in ("tilt", "rotate"):
            deg = float(m.group("deg")) if m.group("deg") else 90.0
            return [Step(kind, a, angle_deg=deg)]
    raise ValueError(f"cannot understand {clause!r}; try e.g. 'pick up the X', 'put the X on "
                     "the Y', 'move the X to the left of the Y', 'push the X forward 10 cm', "
                     "'stack X on Y'")


def rule_plan(instruction: str, object_names: Sequence[str]) -> Plan:
    """Parse ``instruction`` into a plan over ``object_names``."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("the instruction is empty")
    text = instruction.lower().replace(",", " , ")
    # Clauses: split at "then", ";", ".", ",", and at "and" when a verb follows it.
    and_verb = r"\band\b(?=\s+(?:" + "|".join(_VERBS) + r")\b)"
    clauses = re.split(r"\s*(?:\band then\b|\bthen\b|;|\.(?!\d)|,\s*and\b|,|" + and_verb +
                       r")\s*", text)
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
