"""Pages as a reader sees them: the visible text of a response, and the elements it holds, parsed with the
standard library so that asserts hold whatever the templates' whitespace and attribute order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_INVISIBLE = {"script", "style", "template", "head", "title"}
# Elements that flow within a line; every other element starts a new run of text, as a browser shows it.
_INLINE = {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "em", "i", "kbd", "mark", "q", "s", "small", "span", "strong",
           "sub", "sup", "time", "u", "var"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = field(default=None, repr=False)
    children: list[Element | str] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        attrs = "".join(f" {name}={value!r}" for name, value in self.attrs.items())
        return f"<{self.tag}{attrs}> {self.text[:80]!r}"

    @property
    def text(self) -> str:
        """The text within the element (less what scripts, styles and the head hold), whitespace collapsed."""
        return _collapse(self._raw_text())

    def _raw_text(self) -> str:
        parts = []
        for child in self.children:
            if isinstance(child, Element) and child.tag in _INVISIBLE:
                continue
            if isinstance(child, str):
                parts.append(child)
            elif child.tag in _INLINE:
                parts.append(child._raw_text())
            else:
                parts.append(f" {child._raw_text()} ")
        return "".join(parts)

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]

    def get(self, name: str, default=None):
        return self.attrs.get(name, default)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def select(self, selector: str) -> list[Element]:
        """Descendants matching a simple selector: `tag`, `#id`, `.class`, `[name=value]`, or a mix such as
        `form.inline[action=/x]`; several of those separated by spaces match descendants of descendants."""
        scope = [self]
        for step in selector.split():
            test = _compile(step)
            found: list[Element] = []
            for element in scope:
                found.extend(e for e in element.iter() if test(e) and e not in found)
            scope = found
        return scope


_STEP = re.compile(r"([a-zA-Z][\w-]*)|#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=\"?([^\]\"]*)\"?)?\]")


def _compile(step: str):
    tag, conditions, position = None, [], 0
    for match in _STEP.finditer(step):
        if match.start() != position:
            raise ValueError(f"cannot read the selector {step!r}")
        position = match.end()
        name, ident, cls, attr, value = match.groups()
        if name:
            tag = name.lower()
        elif ident:
            conditions.append(lambda e, ident=ident: e.attrs.get("id") == ident)
        elif cls:
            conditions.append(lambda e, cls=cls: cls in e.classes)
        elif value is None:
            conditions.append(lambda e, attr=attr: attr in e.attrs)
        else:
            conditions.append(lambda e, attr=attr, value=value: e.attrs.get(attr) == value)
    if position != len(step):
        raise ValueError(f"cannot read the selector {step!r}")
    return lambda e: (tag is None or e.tag == tag) and all(test(e) for test in conditions)


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v if v is not None else "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)
        if tag not in _VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.current = self.current.parent

    def handle_endtag(self, tag):
        element = self.current
        while element is not self.root and element.tag != tag:
            element = element.parent
        if element is not self.root:  # a stray end tag closes nothing
            self.current = element.parent

    def handle_data(self, data):
        self.current.children.append(data)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _markup(page) -> str:
    if isinstance(page, str):
        return page
    return page.content.decode(getattr(page, "charset", None) or "utf-8")


def parse(page) -> Element:
    """The element tree of a response (or of a string of HTML); an element is its own tree."""
    if isinstance(page, Element):
        return page
    builder = _TreeBuilder()
    builder.feed(_markup(page))
    builder.close()
    return builder.root


def page_text(page) -> str:
    """The visible text of a page (scripts, styles and the head left out), whitespace collapsed."""
    return parse(page).text


def find_all(page, selector: str) -> list[Element]:
    return parse(page).select(selector)


def find(page, selector: str) -> Element:
    """The one element that SELECTOR matches; fails the test if there is none or more than one."""
    found = find_all(page, selector)
    assert len(found) == 1, f"{selector!r} matches {len(found)} elements"
    return found[0]
