"""Call flows as data: load and check a flow file and its prompts (callflows/)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any


class FlowError(ValueError):
    """A flow or prompt file that cannot run; the message names the file and the fault."""


@dataclass(frozen=True)
class Gather:
    """Wait for a fixed number of digits (ended by numDigits, never by #)."""

    digits: int | str  # a number, or the name of a Settings field
    timeout: int


@dataclass(frozen=True)
class Record:
    """Record the carer's voice."""

    max_length: int
    finish_on_key: str


@dataclass(frozen=True)
class State:
    """One state of a call flow."""

    name: str
    prompt: str | None = None
    gather: Gather | None = None
    record: Record | None = None
    action: str | None = None
    next: dict[str, str] = field(default_factory=dict)
    on_silence: str = "repeat"
    hangup: bool = False

    @property
    def waits(self) -> bool:
        """True when the state waits for the caller (digits or a recording)."""
        return self.gather is not None or self.record is not None


@dataclass(frozen=True)
class Voice:
    """How a language is spoken by Twilio's <Say>."""

    language: str
    voice: str


@dataclass(frozen=True)
class Prompts:
    """The wording of every prompt in one language."""

    language: str
    voice: Voice
    texts: dict[str, str | dict[str, str]]

    def render(self, key: str, values: dict[str, Any]) -> str:
        """The prompt's text with its {placeholders} filled in.

        A prompt that depends on a number is a table of plural forms (one, few, many, other),
        chosen by the language's rule for the value of {minutes}; an optional "zero" form is
        said for 0 ("Under a minute." rather than "0 minutes.").
        """
        text = self.texts[key]
        if isinstance(text, dict):
            minutes = int(values.get("minutes", 0))
            category = "zero" if minutes == 0 and "zero" in text else \
                plural_category(self.language, minutes)
            text = text.get(category) or text.get("other") or text["many"]
        return text.format(**values)


def plural_category(language: str, n: int) -> str:
    """CLDR plural category of a whole number in English or Polish ('other' elsewhere)."""
    if language == "pl":
        if n == 1:
            return "one"
        if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
            return "few"
        return "many"
    return "one" if n == 1 else "other"


@dataclass(frozen=True)
class Flow:
    """A call flow: its states and its prompts per language."""

    name: str
    start: str
    max_silences: int
    states: dict[str, State]
    prompts: dict[str, Prompts]
    default_language: str = "en"

    def prompts_for(self, language: str) -> Prompts:
        """Prompts in a language, falling back to the default for a language we lack."""
        return self.prompts.get(language) or self.prompts[self.default_language]


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise FlowError(f"{path}: {error}") from None


def load_prompts(path: Path) -> Prompts:
    """Read prompts/<lang>.toml."""
    data = _load_toml(path)
    try:
        voice = Voice(**data["voice"])
        texts: dict[str, str | dict[str, str]] = {
            str(k): {str(c): str(t) for c, t in v.items()} if isinstance(v, dict) else str(v)
            for k, v in data["prompts"].items()}
        for key, forms in texts.items():
            if isinstance(forms, dict) and "other" not in forms and "many" not in forms:
                raise KeyError(f"plural prompt {key} needs an 'other' (or 'many') form")
    except (KeyError, TypeError) as error:
        raise FlowError(f"{path}: needs [voice] language/voice and [prompts] ({error})") from None
    return Prompts(path.stem, voice, texts)


def load_flow(directory: Path, name: str, actions: set[str], required_prompts: set[str]
              ) -> Flow:
    """Read a flow and every language's prompts, and check they fit together."""
    path = directory / f"{name}.toml"
    data = _load_toml(path)
    states: dict[str, State] = {}
    for state_name, raw in data.get("states", {}).items():
        try:
            gather = Gather(**raw["gather"]) if "gather" in raw else None
            record = Record(**raw["record"]) if "record" in raw else None
            states[state_name] = State(
                name=state_name, prompt=raw.get("prompt"), gather=gather, record=record,
                action=raw.get("action"), next=dict(raw.get("next", {})),
                on_silence=raw.get("on_silence", "repeat"), hangup=bool(raw.get("hangup", False)))
        except TypeError as error:
            raise FlowError(f"{path}: state {state_name}: {error}") from None
    prompt_files = sorted((directory / "prompts").glob("*.toml"))
    prompts = {p.language: p for p in map(load_prompts, prompt_files)}
    flow = Flow(name=name, start=data.get("start", ""),
                max_silences=int(data.get("max_silences", 3)), states=states, prompts=prompts)
    problems = check_flow(flow, actions, required_prompts)
    if problems:
        raise FlowError(f"{path}: " + "; ".join(problems))
    return flow


def check_flow(flow: Flow, actions: set[str], required_prompts: set[str]) -> list[str]:
    """Every way the flow could fail at run time, found at load time instead."""
    problems: list[str] = []
    if flow.start not in flow.states:
        problems.append(f"start state {flow.start!r} is not defined")
    if "en" not in flow.prompts:
        problems.append("prompts/en.toml is missing (the default language)")
    for state in flow.states.values():
        if state.action and state.action not in actions:
            problems.append(f"state {state.name}: unknown action {state.action!r}")
        if not state.action and not state.hangup:
            problems.append(f"state {state.name}: needs an action or hangup = true")
        if state.waits and not state.action:
            problems.append(f"state {state.name}: waits for input but has no action")
        if not state.waits and not state.prompt and not state.action:
            problems.append(f"state {state.name}: does nothing")
        if state.on_silence not in ("repeat", "hangup"):
            problems.append(f"state {state.name}: on_silence must be repeat or hangup")
        for result, target in state.next.items():
            if target not in flow.states:
                problems.append(f"state {state.name}: result {result!r} leads to unknown "
                                f"state {target!r}")
    english = flow.prompts.get("en")
    needed = {s.prompt for s in flow.states.values() if s.prompt} | required_prompts
    for language, prompts in flow.prompts.items():
        missing = needed - prompts.texts.keys()
        if missing:
            problems.append(f"prompts/{language}.toml lacks {sorted(missing)}")
        if english is not None:
            for key, text in prompts.texts.items():
                if key in english.texts and _fields(text) != _fields(english.texts[key]):
                    problems.append(f"prompts/{language}.toml: {key} has placeholders "
                                    f"{sorted(_fields(text))}, en has "
                                    f"{sorted(_fields(english.texts[key]))}")
    return problems


def _fields(text: str | dict[str, str]) -> set[str]:
    forms = text.values() if isinstance(text, dict) else [text]
    return {name for form in forms for _, name, _, _ in Formatter().parse(form) if name}


@cache
def cached_flow(directory: Path, name: str, actions: frozenset[str],
                required_prompts: frozenset[str]) -> Flow:
    """Load a flow once per process (flows change with a deploy, not at run time)."""
    return load_flow(directory, name, set(actions), set(required_prompts))
