"""docs/architecture.md maps every module of bot/: a newcomer finds each one there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
SECTION = re.compile(r"^### .*?`(bot/[a-z_/]*)`", re.MULTILINE)
ROW = re.compile(r"^\| `([a-z_]+\.py|[a-z_]+/)` \|", re.MULTILINE)


def mapped() -> dict[str, set[str]]:
    """Each package section of the page (``bot/store/``) and the modules its table lists."""
    text = PAGE.read_text(encoding="utf-8")
    sections = list(SECTION.finditer(text))
    found: dict[str, set[str]] = {}
    for here, after in zip(sections, [*sections[1:], None], strict=True):
        body = text[here.end() : after.start() if after else len(text)]
        found[here.group(1)] = set(ROW.findall(body))
    return found


def test_every_module_of_bot_is_on_the_architecture_page_and_nothing_else_is() -> None:
    found = mapped()
    expected: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        package = path.parent.relative_to(ROOT).as_posix() + "/"
        if package.startswith("bot/sandbox/"):
            continue  # the sandboxes are mapped per package, below
        if path.name != "__init__.py":
            expected.setdefault(package, set()).add(path.name)
    sandbox = ROOT / "bot" / "sandbox"
    expected["bot/sandbox/"] = {
        f"{p.name}/" if p.is_dir() else p.name
        for p in sandbox.iterdir()
        if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists())
    }
    assert set(found) == set(expected), "a package section is missing or stale"
    for package, modules in expected.items():
        listed = {m for m in found[package] if m != "__init__.py"}
        assert listed == modules, (
            f"{package}: not on the page {sorted(modules - listed)}, "
            f"on the page but gone {sorted(listed - modules)}"
        )


def test_every_module_path_the_docs_name_exists() -> None:
    """A renamed or removed module leaves no stale `bot/….py` path in the README or docs/."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    named = {
        (page.relative_to(ROOT).as_posix(), path)
        for page in pages
        for path in re.findall(r"\bbot/[a-z_/]+\.py\b", page.read_text(encoding="utf-8"))
    }
    assert named, "the docs name no module at all: the pattern is wrong"
    stale = sorted((page, path) for page, path in named if not (ROOT / path).exists())
    assert stale == []
