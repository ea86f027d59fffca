"""Captions for every clip, and left/right mirroring of caption text.

Rules:

- **Bandai**: the clip's content label (a verb phrase, :data:`BANDAI_CONTENT`) and style label (an
  adverbial phrase, an adjective and a "kind of person" noun phrase, :data:`BANDAI_STYLE`) go
  through :data:`BANDAI_TEMPLATES` (10 paraphrase templates); each clip gets 6 different ones,
  with the phrase variants, chosen by a generator seeded from the stable hash of the clip id.
- **CMU**: the trial description (CMU's index, else the file name's label) is cleaned into one
  sentence (:func:`cmu_sentence`: ``"walk"`` -> ``"a person walks."``, ``"dance - small jetes,
  pirouette"`` -> ``"a person dances: does small jetes, does a pirouette."``), keeping the
  description's words; KIT-ML sentences of the trial are added as written, with their start/end
  window in seconds.
- **HDM05**: the class (:data:`HDM05_PHRASES`, e.g. ``"kick L front"`` -> ``"kicks forward with the
  left leg"``) goes through :data:`HDM05_TEMPLATES` (6 templates); each clip gets 4, chosen as for
  Bandai.
- Generated captions start lower case and end with a period, like KIMODO's prompts.
- :func:`mirror_text` swaps left/right words (and clockwise/counterclockwise) for mirrored copies.

Everything is deterministic given the clip id: there is no global random state.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from motiongen.data.sources import ClipSource
from motiongen.data.splits import stable_hash
from motiongen.errors import InputError


@dataclass(frozen=True)
class Caption:
    """A sentence describing a clip, optionally only its ``[start, end)`` window in seconds."""

    text: str
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Caption":
        return cls(str(data["text"]), data.get("start"), data.get("end"))


def caption_window_frames(window: Sequence[float] | None, fps: float, num_frames: int) -> tuple[int, int] | None:
    """A caption's ``[start, end]`` seconds (a clip's ``caption_windows`` entry) as ``[start, end)``
    frames clamped to a ``num_frames`` clip, or None: the caption describes the whole clip."""
    if window is None:
        return None
    start = max(0, round(float(window[0]) * fps))
    end = min(num_frames, round(float(window[1]) * fps))
    return (start, end) if end > start else None


# ------------------------------------------------------------------------------------------------
# Mirroring

_MIRROR_WORDS = {
    "left": "right",
    "right": "left",
    "leftward": "rightward",
    "rightward": "leftward",
    "leftwards": "rightwards",
    "rightwards": "leftwards",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "counter-clockwise": "clockwise",
    "anticlockwise": "clockwise",
    "anti-clockwise": "clockwise",
}
# Longest first so that "counterclockwise" is not read as "counter" + "clockwise".
_MIRROR_RE = re.compile(
    r"(?<![\w-])(" + "|".join(sorted(map(re.escape, _MIRROR_WORDS), key=len, reverse=True)) + r")(?![\w])",
    re.IGNORECASE,
)


def _match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[0].isupper():
        return word[0].upper() + word[1:]
    return word


def mirror_text(text: str) -> str:
    """Swap left <-> right (and clockwise <-> counterclockwise), whole words only, keeping case.

    ``"raises the left hand"`` -> ``"raises the right hand"``; ``"Left"`` -> ``"Right"``;
    ``"leftover"`` is unchanged.
    """
    return _MIRROR_RE.sub(lambda m: _match_case(m.group(0), _MIRROR_WORDS[m.group(0).lower()]), text)


# ------------------------------------------------------------------------------------------------
# Bandai

#: Content label -> variants of (third-person verb phrase, gerund phrase). Both datasets' labels.
BANDAI_CONTENT: dict[str, tuple[tuple[str, str], ...]] = {
    "walk": (("walks forward", "walking forward"), ("walks straight ahead", "walking straight ahead")),
    "run": (("runs forward", "running forward"), ("runs straight ahead", "running straight ahead")),
    "dash": (("dashes forward", "dashing forward"), ("sprints forward", "sprinting forward")),
    "walk-back": (("walks backward", "walking backward"), ("steps backward", "stepping backward")),
    "walk-left": (("walks to the left", "walking to the left"), ("walks toward the left", "walking toward the left")),
    "walk-right": (("walks to the right", "walking to the right"), ("walks toward the right", "walking toward the right")),
    "walk-turn-left": (("walks and turns left", "walking and turning left"),
                       ("walks forward, then turns to the left", "walking forward, then turning to the left")),
    "walk-turn-right": (("walks and turns right", "walking and turning right"),
                        ("walks forward, then turns to the right", "walking forward, then turning to the right")),
    "bow": (("bows", "bowing"), ("bends forward in a bow", "bending forward in a bow")),
    "bye": (("waves goodbye", "waving goodbye"), ("waves a hand to say goodbye", "waving a hand to say goodbye")),
    "byebye": (("waves bye-bye", "waving bye-bye"), ("says bye-bye with a wave", "saying bye-bye with a wave")),
    "guide": (("gestures to show someone the way", "gesturing to show someone the way"),
              ("guides someone with an arm gesture", "guiding someone with an arm gesture")),
    "respond": (("responds to someone", "responding to someone"), ("answers someone with a gesture", "answering someone with a gesture")),
    "call": (("calls out to someone", "calling out to someone"), ("beckons someone over", "beckoning someone over")),
    "punch": (("throws a punch", "throwing a punch"), ("punches", "punching")),
    "kick": (("kicks", "kicking"), ("throws a kick", "throwing a kick")),
    "slash": (("slashes with a sword", "slashing with a sword"), ("makes a slashing attack", "making a slashing attack")),
    "dance-long": (("dances", "dancing"), ("performs a long dance", "performing a long dance")),
    "dance-short": (("dances", "dancing"), ("performs a short dance", "performing a short dance")),
    "wave-both-hands": (("waves both hands", "waving both hands"), ("waves with both hands", "waving with both hands")),
    "wave-left-hand": (("waves the left hand", "waving the left hand"), ("waves with the left hand", "waving with the left hand")),
    "wave-right-hand": (("waves the right hand", "waving the right hand"), ("waves with the right hand", "waving with the right hand")),
    "raise-up-both-hands": (("raises both hands", "raising both hands"), ("lifts both hands up", "lifting both hands up")),
    "raise-up-left-hand": (("raises the left hand", "raising the left hand"), ("lifts the left hand up", "lifting the left hand up")),
    "raise-up-right-hand": (("raises the right hand", "raising the right hand"), ("lifts the right hand up", "lifting the right hand up")),
}


@dataclass(frozen=True)
class StylePhrases:
    """How a style label reads in a caption: adverbial phrases, an adjective, a person noun phrase."""

    adverbs: tuple[str, ...]
    adjective: str
    person: str


#: Style label -> phrases. Both datasets' labels (``chimpira`` is Japanese slang for a street thug).
BANDAI_STYLE: dict[str, StylePhrases] = {
    "normal": StylePhrases(("normally", "in a normal way", "in a neutral manner"), "neutral", "an ordinary person"),
    "happy": StylePhrases(("happily", "in a happy way", "cheerfully"), "happy", "a happy person"),
    "sad": StylePhrases(("sadly", "in a sad way", "gloomily"), "sad", "a sad person"),
    "angry": StylePhrases(("angrily", "in an angry way", "furiously"), "angry", "an angry person"),
    "proud": StylePhrases(("proudly", "in a proud way", "with pride"), "proud", "a proud person"),
    "not-confident": StylePhrases(("without confidence", "in an unsure way", "timidly"), "unconfident", "an insecure person"),
    "masculinity": StylePhrases(("in a masculine way", "with a masculine manner", "in a manly way"), "masculine", "a masculine person"),
    "masculine": StylePhrases(("in a masculine way", "with a masculine manner", "in a manly way"), "masculine", "a masculine person"),
    "feminine": StylePhrases(("in a feminine way", "with a feminine manner", "gracefully, in a feminine style"), "feminine", "a feminine person"),
    "childish": StylePhrases(("childishly", "in a childlike way", "like a child"), "childlike", "a child"),
    "old": StylePhrases(("like an old person", "in an elderly way", "stiffly, like an old person"), "old", "an old person"),
    "elderly": StylePhrases(("in an elderly way", "like an elderly person", "slowly, like an elderly person"), "elderly", "an elderly person"),
    "tired": StylePhrases(("wearily", "in a tired way", "as if tired"), "tired", "a tired person"),
    "exhausted": StylePhrases(("in an exhausted way", "as if exhausted", "with exhaustion"), "exhausted", "an exhausted person"),
    "active": StylePhrases(("energetically", "in an active way", "with lots of energy"), "energetic", "an energetic person"),
    "youthful": StylePhrases(("in a youthful way", "youthfully", "with youthful energy"), "youthful", "a young person"),
    "musical": StylePhrases(("theatrically, like in a musical", "in a musical style", "with musical-theatre flair"), "theatrical", "a musical performer"),
    "giant": StylePhrases(("like a giant", "in a heavy, giant-like way", "with big, heavy movements"), "giant-like", "a giant"),
    "chimpira": StylePhrases(("like a thug", "in a swaggering, thuggish way", "like a street punk"), "thuggish", "a thug"),
}

#: ``{vp}`` verb phrase, ``{ger}`` gerund phrase, ``{adv}`` adverbial, ``{adj}`` adjective, ``{person}``.
BANDAI_TEMPLATES: tuple[str, ...] = (
    "a person {vp} {adv}.",
    "someone {vp} {adv}.",
    "{adv}, a person {vp}.",
    "{person} {vp}.",
    "a person is {ger} {adv}.",
    "{person} is {ger}.",
    "the person {vp} {adv}.",
    "a character {vp} {adv}.",
    "someone is {ger} {adv}.",
    "a person {vp}, and the movement looks {adj}.",
)
BANDAI_CAPTIONS_PER_CLIP = 6


def _clip_rng(clip_id: str) -> random.Random:
    return random.Random(stable_hash(clip_id))


def bandai_captions(content: str, style: str, clip_id: str, count: int = BANDAI_CAPTIONS_PER_CLIP) -> list[str]:
    """``count`` distinct captions for a Bandai clip of ``content`` performed in ``style``."""
    if content not in BANDAI_CONTENT:
        raise InputError(f"unknown Bandai content '{content}'; known: {', '.join(BANDAI_CONTENT)}", field="content")
    if style not in BANDAI_STYLE:
        raise InputError(f"unknown Bandai style '{style}'; known: {', '.join(BANDAI_STYLE)}", field="style")
    if not 1 <= count <= len(BANDAI_TEMPLATES):
        raise InputError(f"count must be in 1..{len(BANDAI_TEMPLATES)}, got {count}", field="count")
    rng = _clip_rng(clip_id)
    phrases = BANDAI_STYLE[style]
    out = []
    for template in rng.sample(BANDAI_TEMPLATES, count):
        vp, ger = rng.choice(BANDAI_CONTENT[content])
        adv = rng.choice(phrases.adverbs)
        text = template.format(vp=vp, ger=ger, adv=adv, adj=phrases.adjective, person=phrases.person)
        out.append(text)
    return out


# ------------------------------------------------------------------------------------------------
# CMU

#: Verbs that may open a CMU description item; they are put in the third person.
_CMU_VERBS = frozenset(
    "walk run jog jump hop leap skip veer turn stop stand sit lie bend reach lift raise lean bring balance "
    "dribble shoot kick punch throw catch drink unscrew screw laugh march limp stumble navigate climb hang "
    "swing wash scoop rise dance whirl spin twirl stretch squat twist step move sneak crawl push pull pick "
    "carry wave look fidget touch rotate curl fold arch pose".split()
)
#: Heads of "category - details" descriptions that are not verbs.
_CMU_HEADS = {
    "basketball": "plays basketball",
    "soccer": "plays soccer",
    "playground": "plays on a playground",
    "acrobatics": "does acrobatics",
    "static dance pose": "holds a static dance pose",
}
_PREPOSITIONS = frozenset("in on to into around along across".split())
_DIRECTIONS = frozenset("forward backward backwards sideways".split())
#: Nouns that turn a leading verb into a compound noun ("jump turn", "turn step").
_COMPOUND_NOUNS = frozenset("turn turns step steps jump jumps jacks".split())
#: Adjectives that a CMU description separates from their noun by a comma ("low, fast dribble").
_LEADING_ADJECTIVES = frozenset("low high fast slow small big".split())
_MAKE_NOUNS = frozenset("turn turns stop stumble".split())
#: Item endings that make the item a noun phrase even after a participle ("scared walk").
_MOTION_NOUNS = frozenset("walk run jump turn dance pose".split())
_CMU_REWRITES = (
    (re.compile(r"(?i)\bwalk\s*(?:digital|figure)?\s*8\b"), "walk in a figure eight"),
    (re.compile(r"(?i)\bmummy\s*(?:digital)?\s*8\b"), "mummy walk in a figure eight"),
    (re.compile(r"(?i)\b(?:digital|figure)\s*8\b"), "in a figure eight"),
    (re.compile(r"(?i)\bmotor\s*cycle\b"), "motorcycle"),
    (re.compile(r"(?i)^small\s*forward$"), "step forward a short distance"),
    (re.compile(r"(?i)\bsmall\s*forward\b"), "forward a short distance"),
    (re.compile(r"\s*\(human subject\)"), ""),
    (re.compile(r"^(\d{2,3})\b"), r"turn \1 degrees,"),
)


def _split_words(text: str) -> str:
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    text = re.sub(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", text)
    return text.replace("_", " ")


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _article(noun_phrase: str) -> str:
    return "an" if noun_phrase[:1] in "aeiou" else "a"


def _is_participle(word: str) -> bool:
    return (word.endswith("ed") and "-" not in word) or word in ("bent", "held")


def _noun_clause(item: str, words: list[str]) -> str:
    verb = "makes" if words[-1] in _MAKE_NOUNS else "does"
    if words[-1].endswith("s") and not words[-1].endswith("ss"):
        return f"{verb} {item}"
    return f"{verb} {_article(item)} {item}"


def _cmu_clause(item: str) -> str:
    """One description item as a predicate: ``"veer left"`` -> ``"veers left"``."""
    words = item.split()
    first = words[0]
    if "/" in first and all(w in _CMU_VERBS for w in first.split("/")):
        return " or ".join(_third_person(w) for w in first.split("/")) + "".join(" " + w for w in words[1:])
    item = item.replace("/", " or ")
    words = item.split()
    compound = len(words) > 1 and words[1] in _COMPOUND_NOUNS
    if first in _CMU_VERBS and not compound:
        return " ".join([_third_person(first)] + words[1:])
    if first.endswith("ing") and first[:-3] in _CMU_VERBS and not compound:
        return " ".join([_third_person(first[:-3])] + words[1:])
    if first in _PREPOSITIONS or (first in _DIRECTIONS and len(words) == 1):
        return "moves " + item
    if words[-1] in _MOTION_NOUNS:
        return _noun_clause(item, words)
    if _is_participle(first) and len(words) == 2 and words[1] in ("in", "out", "up", "down", "over"):
        return "is " + item
    if any(_is_participle(w) for w in words):
        return "with " + item
    return _noun_clause(item, words)


def _cmu_items(text: str) -> list[str]:
    items: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if items and items[-1] in _LEADING_ADJECTIVES:
            items[-1] = f"{items[-1]}, {part}"
        else:
            items.append(part)
    return items


def cmu_sentence(description: str) -> str:
    """A CMU description cleaned into a sentence that keeps its words.

    ``"walk"`` -> ``"a person walks."``; ``"walk, veer left"`` -> ``"a person walks, veers left."``;
    ``"dance - expressive arms, pirouette"`` -> ``"a person dances: does expressive arms, does a
    pirouette."``; ``"SlowWalk"`` -> ``"a person does a slow walk."``.
    """
    text = _split_words(description.strip())
    for pattern, repl in _CMU_REWRITES:
        text = pattern.sub(repl, text)
    text = " ".join(text.lower().split())
    # Trailing take numbers ("lindy hop 2", "charleston 01") are not part of the description.
    text = re.sub(r"(?<=[a-z]) \d{1,2}$", "", text).strip(" ,.-")
    if not text:
        raise InputError("empty CMU description", field="description")
    head, sep, rest = text.partition(" - ")
    if sep:
        head = head.strip()
        lead = _CMU_HEADS.get(head) or _cmu_clause(head)
        return f"a person {lead}: {', '.join(_cmu_clause(i) for i in _cmu_items(rest))}."
    return f"a person {', '.join(_cmu_clause(i) for i in _cmu_items(text))}."


def _kit_sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def cmu_captions(description: str, kitml: Sequence[Mapping[str, Any]] = ()) -> list[Caption]:
    """The trial's description sentence, then its KIT-ML sentences with their windows."""
    out = [Caption(cmu_sentence(description))]
    for ann in kitml:
        out.append(Caption(_kit_sentence(str(ann["text"])), float(ann["start"]), float(ann["end"])))
    return out


# ------------------------------------------------------------------------------------------------
# HDM05

#: HDM05 class name -> variants of (third-person verb phrase, gerund phrase).
HDM05_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "deposit floor R": (
        ("bends down and puts something on the floor with the right hand", "bending down and putting something on the floor with the right hand"),
        ("places an object on the floor with the right hand", "placing an object on the floor with the right hand"),
    ),
    "elbow to knee": (
        ("touches each elbow to the opposite knee, starting with the left elbow", "touching each elbow to the opposite knee, starting with the left elbow"),
        ("does elbow-to-knee crunches while standing", "doing elbow-to-knee crunches while standing"),
    ),
    "grab high R": (
        ("reaches up high and grabs something with the right hand", "reaching up high and grabbing something with the right hand"),
        ("grabs an object from a high shelf with the right hand", "grabbing an object from a high shelf with the right hand"),
    ),
    "hop both legs": (
        ("hops forward on both legs", "hopping forward on both legs"),
        ("jumps with both feet together", "jumping with both feet together"),
    ),
    "jog left circle": (
        ("jogs in a circle to the left", "jogging in a circle to the left"),
        ("jogs around in a counterclockwise circle", "jogging around in a counterclockwise circle"),
    ),
    "kick L front": (
        ("kicks forward with the left leg", "kicking forward with the left leg"),
        ("does a front kick with the left foot", "doing a front kick with the left foot"),
    ),
    "lie down floor": (
        ("lies down on the floor", "lying down on the floor"),
        ("gets down and lies on the ground", "getting down and lying on the ground"),
    ),
    "rotate arms backward": (
        ("rotates both arms backward", "rotating both arms backward"),
        ("circles both arms backward", "circling both arms backward"),
    ),
    "sneak": (
        ("sneaks forward on tiptoe", "sneaking forward on tiptoe"),
        ("sneaks forward quietly", "sneaking forward quietly"),
    ),
    "squat": (
        ("does a squat", "doing a squat"),
        ("squats down and stands back up", "squatting down and standing back up"),
    ),
    "throw basketball": (
        ("throws a basketball", "throwing a basketball"),
        ("throws a ball with both hands as in basketball", "throwing a ball with both hands as in basketball"),
    ),
}
HDM05_TEMPLATES: tuple[str, ...] = (
    "a person {vp}.",
    "someone {vp}.",
    "a person is {ger}.",
    "the person {vp}.",
    "someone is {ger}.",
    "a human {vp}.",
)
HDM05_CAPTIONS_PER_CLIP = 4


def hdm05_captions(class_name: str, clip_id: str, count: int = HDM05_CAPTIONS_PER_CLIP) -> list[str]:
    """``count`` distinct captions for an HDM05 clip of class ``class_name``."""
    if class_name not in HDM05_PHRASES:
        raise InputError(f"unknown HDM05 class '{class_name}'; known: {', '.join(HDM05_PHRASES)}", field="class_name")
    if not 1 <= count <= len(HDM05_TEMPLATES):
        raise InputError(f"count must be in 1..{len(HDM05_TEMPLATES)}, got {count}", field="count")
    rng = _clip_rng(clip_id)
    out = []
    for template in rng.sample(HDM05_TEMPLATES, count):
        vp, ger = rng.choice(HDM05_PHRASES[class_name])
        out.append(template.format(vp=vp, ger=ger))
    return out


# ------------------------------------------------------------------------------------------------


def clip_captions(clip: ClipSource) -> list[Caption]:
    """Captions of a discovered clip by the rules in the module docstring."""
    labels = clip.labels
    if clip.source == "bandai":
        return [Caption(t) for t in bandai_captions(str(labels["content"]), str(labels["style"]), clip.clip_id)]
    if clip.source == "cmu":
        return cmu_captions(str(labels["description"]), labels.get("kitml", ()))
    if clip.source == "hdm05":
        return [Caption(t) for t in hdm05_captions(str(labels["class_name"]), clip.clip_id)]
    raise InputError(f"unknown source '{clip.source}'", field="source")


def mirror_captions(captions: Sequence[Caption]) -> list[Caption]:
    """Captions of the mirrored clip: the same windows, left and right swapped."""
    return [Caption(mirror_text(c.text), c.start, c.end) for c in captions]
