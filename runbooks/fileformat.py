"""Runbook files: Markdown with YAML front matter (docs/runbooks.md has a full example).

    ---
    slug: ddos-public-api
    title: Volumetric DDoS on the public API
    summary: One paragraph on when and why to use it.
    applies_to:
      kinds: [availability, security]
      min_severity: 2
      services: [public-api]
    tags: [ddos]
    owner: maya
    review_by: 2027-03-01
    ---

    ## Confirm it is an attack
    role: responder
    minutes: 10
    critical: yes

    Markdown body of the step...

`render` writes the canonical text of a runbook; `parse` reads a file back into the same
data, so import then export gives the same bytes. Every problem raises RunbookFileError with
the file name and line.
"""

import datetime
import hashlib
import re
from dataclasses import dataclass, field

import yaml

from incidents.models import Incident

from .models import RunbookStep

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
STEP_HEADING = re.compile(r"^## (.+?)\s*$")
STEP_META = re.compile(r"^(role|minutes|critical):\s*(.*?)\s*$")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
FRONT_KEYS = ("slug", "title", "summary", "applies_to", "tags", "owner", "review_by")
APPLIES_KEYS = ("kinds", "min_severity", "services")
SLUG_MAX = 100
TITLE_MAX = 200  # runbook and step titles
YAML_WIDTH = 80
MINUTES_MAX = 7 * 24 * 60  # a step expected to take longer than a week is a project, not a step


class RunbookFileError(ValueError):
    def __init__(self, name, line, reason):
        self.name, self.line, self.reason = name, line, reason
        super().__init__(f"{name}:{line}: {reason}")


@dataclass
class StepData:
    title: str
    body: str = ""
    role: str = RunbookStep.Role.RESPONDER
    expected_minutes: int | None = None
    critical: bool = False


@dataclass
class RunbookData:
    slug: str
    title: str
    summary: str = ""
    kinds: list = field(default_factory=list)
    min_severity: int = 4
    services: list = field(default_factory=list)  # service slugs
    tags: list = field(default_factory=list)
    owner: str = ""  # username
    review_by: datetime.date | None = None
    steps: list = field(default_factory=list)

    def checksum(self):
        return hashlib.sha256(render(self).encode()).hexdigest()


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    # Multi-line text as a literal block, long text folded, so the front matter reads like the
    # file someone would write; PyYAML mangles some values in block styles (leading spaces,
    # say), so a style is used only if the value reads back unchanged.
    style = "|" if "\n" in value else ">" if len(value) > 80 else None
    if style and not _reads_back(value, style):
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _reads_back(value, style):
    class Plain(yaml.SafeDumper):
        pass

    Plain.add_representer(str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style=style))
    text = yaml.dump({"k": value}, Dumper=Plain, allow_unicode=True, width=YAML_WIDTH)
    try:
        return yaml.safe_load(text) == {"k": value}
    except yaml.YAMLError:
        return False


_Dumper.add_representer(str, _str)
# Lists of names on one line ([availability, security]), mappings always as blocks.
_Dumper.add_representer(list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, True))


def render(data):
    front = {"slug": data.slug, "title": data.title}
    if data.summary:
        front["summary"] = data.summary
    applies = {}
    if data.kinds:
        applies["kinds"] = list(data.kinds)
    applies["min_severity"] = data.min_severity
    if data.services:
        applies["services"] = list(data.services)
    front["applies_to"] = applies
    if data.tags:
        front["tags"] = list(data.tags)
    if data.owner:
        front["owner"] = data.owner
    if data.review_by:
        front["review_by"] = data.review_by
    header = yaml.dump(
        front, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=YAML_WIDTH, default_flow_style=False
    )
    parts = [f"---\n{header}---\n"]
    for step in data.steps:
        meta = [f"role: {step.role}"]
        if step.expected_minutes:
            meta.append(f"minutes: {step.expected_minutes}")
        if step.critical:
            meta.append("critical: yes")
        block = f"## {step.title}\n" + "\n".join(meta) + "\n"
        if step.body.strip():
            block += "\n" + step.body.strip() + "\n"
        parts.append(block)
    return "\n".join(parts)


def _line_of(lines, pattern, default=2):
    for number, line in enumerate(lines, start=1):
        if re.match(pattern, line):
            return number
    return default


def parse(text, name="<runbook>"):
    """Read a runbook file. Raises RunbookFileError(name, line, reason) on any problem."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise RunbookFileError(name, 1, "a runbook file must start with '---' and YAML front matter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise RunbookFileError(name, len(lines), "the front matter is not closed with '---'") from None
    front_lines = lines[1:end]
    try:
        front = yaml.safe_load("\n".join(front_lines)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 2 != line:
            problem += f" ({context} started on line {context_mark.line + 2})"
        raise RunbookFileError(name, line, f"invalid YAML: {problem}") from None
    if not isinstance(front, dict):
        raise RunbookFileError(name, 2, "the front matter must be a mapping of keys to values")

    def where(key):
        # Escaped: a key is the file's text, and a key like "(a+)+c" would backtrack for hours.
        return _line_of(front_lines, rf"^\s*{re.escape(str(key))}\s*:") + 1

    unknown = [k for k in front if k not in FRONT_KEYS]
    if unknown:
        raise RunbookFileError(name, where(unknown[0]), f"unknown key {unknown[0]!r}; expected {', '.join(FRONT_KEYS)}")
    slug = front.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug) or len(slug) > SLUG_MAX:
        raise RunbookFileError(
            name,
            where("slug") if "slug" in front else 2,
            f"'slug' is required: lowercase letters, digits and dashes, at most {SLUG_MAX} characters",
        )
    title = front.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RunbookFileError(name, where("title") if "title" in front else 2, "'title' is required")
    if len(title.strip()) > TITLE_MAX or "\n" in title.strip():
        raise RunbookFileError(name, where("title"), f"'title' must be one line of at most {TITLE_MAX} characters")
    summary = front.get("summary") or ""
    if not isinstance(summary, str):
        raise RunbookFileError(name, where("summary"), "'summary' must be text")
    applies = front.get("applies_to") or {}
    if not isinstance(applies, dict):
        raise RunbookFileError(name, where("applies_to"), "'applies_to' must be a mapping")
    bad = [k for k in applies if k not in APPLIES_KEYS]
    if bad:
        raise RunbookFileError(name, where(bad[0]), f"unknown key {bad[0]!r} in applies_to")
    kinds = _str_list(applies.get("kinds"), name, where("kinds"), "kinds")
    for kind in kinds:
        if kind not in Incident.Kind.values:
            raise RunbookFileError(
                name, where("kinds"), f"unknown incident kind {kind!r}; use {', '.join(Incident.Kind.values)}"
            )
    min_severity = applies.get("min_severity", 4)
    if min_severity not in (1, 2, 3, 4) or isinstance(min_severity, bool):
        raise RunbookFileError(name, where("min_severity"), "'min_severity' must be 1, 2, 3 or 4")
    services = _str_list(applies.get("services"), name, where("services"), "services")
    tags = _str_list(front.get("tags"), name, where("tags"), "tags")
    owner = front.get("owner") or ""
    if not isinstance(owner, str):
        raise RunbookFileError(name, where("owner"), "'owner' must be a username")
    review_by = front.get("review_by")
    if review_by is not None and (not isinstance(review_by, datetime.date) or isinstance(review_by, datetime.datetime)):
        raise RunbookFileError(name, where("review_by"), "'review_by' must be a date like 2027-03-01")

    steps = _parse_steps(lines[end + 1 :], end + 2, name)
    if not steps:
        raise RunbookFileError(name, end + 2, "a runbook needs at least one step ('## Step title')")
    return RunbookData(
        slug=slug,
        title=title.strip(),
        summary=summary,
        kinds=kinds,
        min_severity=min_severity,
        services=services,
        tags=tags,
        owner=owner,
        review_by=review_by,
        steps=steps,
    )


def _str_list(value, name, line, key):
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RunbookFileError(name, line, f"'{key}' must be a list of names")
    return value


def _parse_steps(lines, first_line, name):
    steps = []
    current = None
    body = []
    in_meta = False
    fence, fence_line = None, 0  # the marker (``` or ~~~) of the code block we are in, if any
    for offset, line in enumerate(lines):
        number = first_line + offset
        opening = FENCE.match(line)
        if opening:
            if fence is None:
                fence, fence_line = opening.group(1), number
            elif opening.group(1) == fence:
                fence = None
        heading = None if fence else STEP_HEADING.match(line)
        if heading:
            if current:
                current.body = "\n".join(body).strip()
                steps.append(current)
            title = heading.group(1).strip()
            if len(title) > TITLE_MAX:
                raise RunbookFileError(name, number, f"a step title must be at most {TITLE_MAX} characters")
            current, body, in_meta = StepData(title=title), [], True
            continue
        if current is None:
            if line.strip():
                raise RunbookFileError(name, number, "text before the first step; start each step with '## '")
            continue
        meta = STEP_META.match(line) if in_meta else None
        if meta:
            key, value = meta.groups()
            if key == "role":
                if value not in RunbookStep.Role.values:
                    raise RunbookFileError(
                        name, number, f"unknown role {value!r}; use one of {', '.join(RunbookStep.Role.values)}"
                    )
                current.role = value
            elif key == "minutes":
                plain = value.isascii() and value.isdigit() and len(value) <= 9  # int() refuses "²"
                if not plain or not 0 < int(value) <= MINUTES_MAX:
                    raise RunbookFileError(name, number, f"'minutes' must be a whole number from 1 to {MINUTES_MAX}")
                current.expected_minutes = int(value)
            elif key == "critical":
                if value not in ("yes", "no"):
                    raise RunbookFileError(name, number, "'critical' must be yes or no")
                current.critical = value == "yes"
            continue
        in_meta = False
        body.append(line)
    if fence:
        raise RunbookFileError(name, fence_line, f"this code block ({fence}) is never closed")
    if current:
        current.body = "\n".join(body).strip()
        steps.append(current)
    return steps
