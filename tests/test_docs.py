"""The docs against the code: every key the suite loader accepts is in docs/suites.md (with its default and bound),
every built-in option is listed, README.md stays a front door, and no doc points outside the repository."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from dqbench.run import suite

REPO = Path(__file__).resolve().parent.parent
SUITES_MD = REPO / "docs" / "suites.md"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def suites_doc() -> str:
    return SUITES_MD.read_text()


def table_row(text: str, key: str) -> list[str]:
    """The cells of the first table row whose first cell is `` `key` ``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == f"`{key}`":
            return cells
    raise AssertionError(f"docs/suites.md has no table row for `{key}`")


def section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## ``."""
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


KEY_SETS = {
    "top-level": suite.TOP_KEYS,
    "[train]": set(suite.TRAIN_DEFAULTS) | set(suite.TRAIN_TYPES),
    "[latency]": set(suite.LATENCY_DEFAULTS) | set(suite.LATENCY_TYPES),
    "[compare]": set(suite.COMPARE_DEFAULTS) | set(suite.COMPARE_TYPES),
    # `bits` is read apart from ENTRY_KEYS in suite._entries (a [[methods]] key only), `sweep` by suite._swept
    "entry": set(suite.ENTRY_KEYS) | {"bits", "sweep"},
    "[[exclude]]": set(suite.EXCLUDE_KEYS),
}


@pytest.mark.parametrize("where", sorted(KEY_SETS))
def test_every_suite_key_is_documented(where):
    text = suites_doc()
    missing = sorted(k for k in KEY_SETS[where] if f"`{k}`" not in text)
    assert not missing, f"docs/suites.md lacks {where} keys {missing}: add each as `key` with its type and default"


@pytest.mark.parametrize("heading, defaults", [
    ("`[train]`", suite.TRAIN_DEFAULTS),
    ("`[latency]`", suite.LATENCY_DEFAULTS),
    ("`[compare]`", suite.COMPARE_DEFAULTS),
])
def test_documented_defaults_are_the_code_defaults(heading, defaults):
    text = section(suites_doc(), heading)
    for key, default in defaults.items():
        cell = table_row(text, key)[2]
        literal = re.fullmatch(r"`(.*)`", cell)
        assert literal, f"{heading} `{key}`: default cell {cell!r} is not a `literal`"
        assert tomllib.loads(f"v = {literal.group(1)}")["v"] == default, f"{heading} `{key}`: code default {default!r}"


def test_documented_bounds_are_the_code_bounds():
    text = suites_doc()
    for key, (low, inclusive) in suite.LOWER_BOUNDS.items():
        bound = f"{'≥' if inclusive else '>'} {low:g}"
        assert any(bound in cell for cell in table_row(text, key)[3:]), f"`{key}`: docs/suites.md should say {bound}"


def test_select_choices_and_filters_are_documented():
    text = suites_doc()
    for choice in suite.SELECT_CHOICES:
        assert f'`"{choice}"`' in text
    for key in suite.FILTER_KEYS:
        assert f"`--{key}" in text


def test_latency_controls_are_documented():
    from dqbench.latency.harness import ALL_CONTROLS

    row = " ".join(table_row(section(suites_doc(), "`[latency]`"), "controls"))
    for control in ALL_CONTROLS:
        assert f'`"{control}"`' in row


def test_every_built_in_option_is_documented():
    """Every option a built-in dataset, arch or method takes from a suite entry is listed in docs/suites.md."""
    from dqbench.registry import ARCHS, BUILTIN, DATASETS, METHODS, accepted_kwargs

    text = suites_doc()
    reserved = {"datasets": ("root", "seed"), "archs": ("in_channels", "out_channels", "task"), "methods": ("bits",)}
    for section_name, registry in (("datasets", DATASETS), ("archs", ARCHS), ("methods", METHODS)):
        for entry in registry.entries():
            if entry.source != BUILTIN:
                continue
            assert f"`{entry.name}`" in text, f"docs/suites.md does not list the built-in {registry.kind} {entry.name}"
            missing = sorted(k for k in accepted_kwargs(entry.obj, reserved[section_name]) if f"`{k}`" not in text)
            assert not missing, f"docs/suites.md lacks options {missing} of the {registry.kind} '{entry.name}'"


def test_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines; move detail into docs/"
    text = "\n".join(lines)
    assert "<!-- quickstart-table:start -->" in text and "<!-- quickstart-table:end -->" in text
    for doc in ("docs/results.md", "docs/suites.md", "docs/plugins.md", "docs/engine.md"):
        assert f"]({doc}" in text, f"README.md does not link {doc}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_path_outside_the_repository(doc):
    assert "../shared" not in doc.read_text(), f"{doc.name} names a path outside the repository"
