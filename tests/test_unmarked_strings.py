"""Every user-visible string is marked for translation, so the Chinese UI has no English left.

tests/test_translations.py checks that the marked strings are translated; this one finds the
strings nobody marked:

- in templates, text between tags and the title, placeholder, aria-label and alt attributes
  outside {% translate %} / {% blocktranslate %} (e-mail bodies too);
- in Python, the messages people read: ValidationError texts (Django's and DRF's), messages
  framework calls and form.add_error, access.require's refusal, PermissionDenied and DRF's other
  refusals, any `message=` argument, {"detail": ...} answers and a permission's or viewset's
  `message` / `denied_message`, given as a literal (or f-string) not wrapped in gettext;
- every system timeline line logged as a translatable timeline_text.Line.
"""

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings
from django.template.base import Lexer, TokenType

ROOT = Path(settings.BASE_DIR)
TEMPLATES = ROOT / "templates"
PYTHON = ["config", "incidents", "runbooks", "statuspage"]

# Names and marks that read the same in every language.
NOT_WORDS = {"Warroom", "SEV", "INC", "API", "JSON", "Atom", "Markdown", "RSS", "URL", "HTTP", "HTTPS", "OK"}
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")
ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
# What stands for a template tag or variable in the HTML handed to the parser.
VARIABLE = "\x00"


def words_in(text):
    return [w for w in WORD.findall(text.replace(VARIABLE, " ")) if w not in NOT_WORDS]


class VisibleText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name in ATTRIBUTES and value and words_in(value):
                self.found.append(f'{name}="{value}"')

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and words_in(data):
            self.found.append(data.strip())


def unmarked_in_template(source, plain_text=False):
    """The English a template shows that no translate tag covers."""
    pieces, in_block, in_comment = [], False, False
    for token in Lexer(source).tokenize():
        content = token.contents.split()
        tag = content[0] if token.token_type == TokenType.BLOCK and content else ""
        if tag in ("blocktranslate", "blocktrans"):
            in_block = True
            pieces.append(VARIABLE)
        elif tag in ("endblocktranslate", "endblocktrans"):
            in_block = False
        elif tag == "comment":
            in_comment = True
        elif tag == "endcomment":
            in_comment = False
        elif in_block or in_comment:
            continue
        elif token.token_type == TokenType.TEXT:
            pieces.append(token.contents)
        elif token.token_type == TokenType.VAR:
            pieces.append(VARIABLE)
        elif token.token_type == TokenType.BLOCK:
            pieces.append(" ")  # {% if %} open{% endif %} inside a tag stays a tag
    html = "".join(pieces)
    if plain_text:
        return [line.strip() for line in html.splitlines() if words_in(line)]
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.found


def test_every_template_string_is_marked_for_translation():
    unmarked = {}
    for path in sorted(TEMPLATES.rglob("*.html")) + sorted(TEMPLATES.rglob("*.txt")):
        found = unmarked_in_template(path.read_text(encoding="utf-8"), plain_text=path.suffix == ".txt")
        if found:
            unmarked[str(path.relative_to(ROOT))] = found
    assert unmarked == {}, "wrap these in {% translate %} or {% blocktranslate %}:\n" + "\n".join(
        f"{path}: {text!r}" for path, texts in unmarked.items() for text in texts
    )


# Python ---------------------------------------------------------------------------------------

GETTEXT = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy", "format_lazy"}
MESSAGE_CALLS = {"success", "error", "info", "warning", "debug"}
# Exceptions whose message is the answer people get (Django's and DRF's).
REFUSALS = {"PermissionDenied", "NotAuthenticated", "NotFound", "MethodNotAllowed", "Throttled", "ParseError"}
# Answers whose {"detail": ...} people read.
RESPONSES = {"Response", "JsonResponse"}


def is_english(node):
    """A literal (or f-string, or a concatenation with one) with words in it, not run through
    gettext first."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(words_in(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(is_english(part) for part in node.values)
    if isinstance(node, ast.BinOp):
        return is_english(node.left) or (isinstance(node.op, ast.Add) and is_english(node.right))
    if isinstance(node, ast.IfExp):
        return is_english(node.body) or is_english(node.orelse)
    if isinstance(node, ast.Dict):
        return any(is_english(value) for value in node.values)
    if isinstance(node, ast.List | ast.Tuple):
        return any(is_english(item) for item in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return is_english(node.func.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        # {action: message}.get(action, default message)
        return (isinstance(node.func.value, ast.Dict) and is_english(node.func.value)) or any(
            is_english(a) for a in node.args[1:2]
        )
    return False


def call_name(node):
    if isinstance(node.func, ast.Name):
        return "", node.func.id
    if isinstance(node.func, ast.Attribute):
        owner = node.func.value
        return (owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")), node.func.attr
    return "", ""


def user_messages(call):
    """The arguments of a call that people read, if it is one that shows them a message."""
    owner, name = call_name(call)
    arguments = list(call.args) + [k.value for k in call.keywords if k.arg in ("message", "detail", "error")]
    if name == "ValidationError":
        return [arguments[0]] if arguments else []
    if owner == "messages" and name in MESSAGE_CALLS:
        return call.args[1:2]
    if owner == "messages" and name == "add_message":
        return call.args[2:3]
    if name == "add_error":
        return call.args[1:2]
    if any(k.arg == "message" for k in call.keywords):  # permission_denied(request, message=...) and the like
        return [k.value for k in call.keywords if k.arg == "message"]
    if name == "require":  # access.require(allowed, message): the PermissionDenied people read
        return [*call.args[1:2], *(k.value for k in call.keywords if k.arg == "message")]
    if name in REFUSALS:
        return arguments[:1]
    if name in RESPONSES and call.args and isinstance(call.args[0], ast.Dict):
        return [v for k, v in zip(call.args[0].keys, call.args[0].values, strict=True) if _is_key(k, "detail")]
    return []


def _is_key(node, name):
    return isinstance(node, ast.Constant) and node.value == name


# Names a refusal is kept in before it is raised: class attributes that DRF and the project's
# viewsets answer with, and the local a message is chosen into.
MESSAGE_NAMES = {"message", "denied_message", "refusal"}


def named_messages(node):
    """The messages assigned to one of MESSAGE_NAMES (a DRF permission's `message`, a viewset's
    `denied_message`, `message = ... if ... else ...` before permission_denied(request, message))."""
    if not isinstance(node, ast.Assign):
        return []
    return [node.value] if any(isinstance(t, ast.Name) and t.id in MESSAGE_NAMES for t in node.targets) else []


def test_every_python_message_for_people_is_marked_for_translation():
    unmarked = []
    for package in PYTHON:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    arguments = user_messages(node)
                elif isinstance(node, ast.Assign):
                    arguments = named_messages(node)
                else:
                    continue
                for argument in arguments:
                    if is_english(argument):
                        unmarked.append(f"{path.relative_to(ROOT)}:{argument.lineno}: {ast.unparse(argument)[:90]}")
    assert unmarked == [], "wrap these in gettext:\n" + "\n".join(unmarked)


# The checks themselves --------------------------------------------------------------------------


def test_the_template_check_finds_unmarked_text_and_attributes():
    source = (
        '{% load i18n %}<p title="Close the incident">Resolve now</p>'
        '<input placeholder="{% translate "Search" %}" aria-label="Search incidents">'
        "<p>{% translate 'Marked' %} {{ incident.reference }}</p>"
        "<p>{% blocktranslate %}Marked {{ x }} too{% endblocktranslate %}</p><script>var notText = 1;</script>"
        "{% comment %}Not shown{% endcomment %}<span>SEV{{ n }}</span>"
    )
    assert unmarked_in_template(source) == [
        'title="Close the incident"',
        "Resolve now",
        'aria-label="Search incidents"',
    ]


def test_the_python_check_finds_literal_messages_and_passes_gettext():
    source = """
raise ValidationError("Give a title.")
raise ValidationError({"title": f"Keep it under {n} characters."})
raise ValidationError(_("Marked."))
raise ValidationError({"title": _("Marked too, {n}").format(n=n)})
messages.success(request, "Saved.")
messages.error(request, error)
form.add_error("title", "Too long.")
access.require(access.can_command(by, incident), "Only commanders may do this.")
access.require(allowed, gettext("Marked refusal."))
raise PermissionDenied("Not yours.")
self.permission_denied(request, message="Not allowed here.")
return Response({"detail": "Slow down.", "code": "throttled"}, status=429)
"""
    found = [
        ast.unparse(argument)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        for argument in user_messages(node)
        if is_english(argument)
    ]
    assert found == [
        "'Give a title.'",
        "{'title': f'Keep it under {n} characters.'}",
        "'Saved.'",
        "'Too long.'",
        "'Only commanders may do this.'",
        "'Not yours.'",
        "'Not allowed here.'",
        "'Slow down.'",
    ]


# System timeline lines --------------------------------------------------------------------------


def _is_line(node, assigned, makers=frozenset()):
    """A timeline_text.Line(...) call (or a choice between two, or a call of a function of the
    module that only returns Lines), or a name only ever assigned one."""
    if isinstance(node, ast.IfExp):
        return _is_line(node.body, assigned, makers) and _is_line(node.orelse, assigned, makers)
    if isinstance(node, ast.Call):
        owner, name = call_name(node)
        return name == "Line" or (isinstance(node.func, ast.Name) and name in makers)
    if isinstance(node, ast.Name):
        values = assigned.get(node.id, [])
        return bool(values) and all(_is_line(value, {}, makers) for value in values)
    return False


def _line_makers(functions):
    """The module's functions whose every return is a Line."""
    makers = set()
    for function in functions:
        returns = [n.value for n in ast.walk(function) if isinstance(n, ast.Return)]
        if returns and all(r is not None and _is_line(r, _assignments(function)) for r in returns):
            makers.add(function.name)
    return makers


def _assignments(function):
    """name -> the values assigned to it in a function (tuple targets of a loop over a list
    whose appended tuples start with the name's values count too)."""
    assigned = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Tuple) and node.target.elts:
            first = node.target.elts[0]
            if isinstance(first, ast.Name) and isinstance(node.iter, ast.Name):
                appended = [
                    call.args[0].elts[0]
                    for call in ast.walk(function)
                    if isinstance(call, ast.Call)
                    and call_name(call) == (node.iter.id, "append")
                    and call.args
                    and isinstance(call.args[0], ast.Tuple)
                ]
                assigned.setdefault(first.id, []).extend(appended)
    for name, values in assigned.items():  # a name assigned from another name: follow it once
        followed = []
        for value in values:
            if isinstance(value, ast.Name):
                if value.id != name:  # a loop target appended back under its own name adds nothing
                    followed += assigned.get(value.id, [value])
            else:
                followed.append(value)
        assigned[name] = followed
    return assigned


def unmarked_timeline_lines(tree):
    """The record_event calls of a module that log a system line (any kind but a note) as plain
    text rather than a translatable timeline_text.Line, and every Line whose message is a
    literal not marked with gettext_noop."""
    found = []
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    makers = _line_makers(functions)
    for function in functions:
        assigned = _assignments(function)
        for node in ast.walk(function):
            if not isinstance(node, ast.Call):
                continue
            name = call_name(node)[1]
            if name == "record_event":
                arguments = dict(zip(("incident", "by", "kind", "body"), node.args, strict=False))
                arguments.update({k.arg: k.value for k in node.keywords})
                kind, body = arguments.get("kind"), arguments.get("body")
                if isinstance(kind, ast.Attribute) and kind.attr == "NOTE":
                    continue
                if body is not None and not _is_line(body, assigned, makers):
                    found.append((node.lineno, ast.unparse(body)[:90]))
            elif name == "Line" and node.args and is_english(node.args[0]):
                found.append((node.lineno, ast.unparse(node.args[0])[:90]))
            elif (
                name == "create"
                and "TimelineEntry.objects" in ast.unparse(node.func)
                and function.name != "record_event"
            ):
                found.append((node.lineno, "TimelineEntry.objects.create outside record_event"))
    return sorted(found)


def test_every_system_timeline_line_is_a_translatable_line():
    """Each reader sees the timeline's system lines in their language only if every call site
    logs a Line (message id marked with gettext_noop, parameters as codes), not English text."""
    unmarked = []
    for package in PYTHON:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            unmarked += [f"{path.relative_to(ROOT)}:{line}: {text}" for line, text in unmarked_timeline_lines(tree)]
    assert unmarked == [], "log these as timeline_text.Line(gettext_noop(...), ...):\n" + "\n".join(unmarked)


def test_the_timeline_check_finds_english_bodies_and_passes_lines():
    source = """
def operation(incident, by, reason):
    record_event(incident, by, TimelineEntry.Kind.STATUS, f"Status changed: {old} → {new}.")
    record_event(incident, by, Kind.FIELD, "Summary edited.")
    body = "Reopened." if reason else Line(gettext_noop("Closed."))
    record_event(incident, by, Kind.FIELD, body)
    record_event(incident, by, TimelineEntry.Kind.NOTE, reason)
    record_event(incident, by, Kind.FIELD, Line(gettext_noop("{x} changed."), x=1))
    line = Line(gettext_noop("Moved.")) if reason else Line(gettext_noop("Stayed."))
    record_event(incident, by, Kind.FIELD, line)
    record_event(incident, by, Kind.FIELD, Line("Not marked."))
    TimelineEntry.objects.create(incident=incident, body="sneaked in")
"""
    assert [line for line, _ in unmarked_timeline_lines(ast.parse(source))] == [3, 4, 6, 11, 12]
