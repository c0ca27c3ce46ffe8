"""Every user-visible string is marked for translation, so the Chinese UI has no English left.

tests/test_translations.py checks that the marked strings are translated; this one finds the
strings nobody marked:

- in templates, text between tags and the title, placeholder, aria-label and alt attributes
  outside {% translate %} / {% blocktranslate %} (e-mail bodies too);
- in Python, the messages people read: ValidationError texts (Django's and DRF's), messages
  framework calls and form.add_error, given as a literal (or f-string) not wrapped in gettext.
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
    return []


def test_every_python_message_for_people_is_marked_for_translation():
    unmarked = []
    for package in PYTHON:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    for argument in user_messages(node):
                        if is_english(argument):
                            unmarked.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(argument)[:90]}")
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
    ]
