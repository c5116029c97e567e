"""The README and docs/ say what the code does: every setting is documented, every guard the audit
map names exists, and every page the README links to is there."""

import re
from pathlib import Path

from image_processor.settings import Settings
from local_server import ServerSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _configuration_table() -> str:
    section = README.split("## Configuration", 1)[1]
    return section.split("\n## ", 1)[0]


def _documented_variables() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", _configuration_table()))


def test_every_service_setting_is_in_the_configuration_table() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - _documented_variables() == set()


def test_every_server_setting_is_in_the_configuration_table() -> None:
    fields = {name.upper() for name in ServerSettings.model_fields}
    assert fields - _documented_variables() == set()


def test_the_configuration_table_names_no_setting_that_does_not_exist() -> None:
    known = {name.upper() for name in (*Settings.model_fields, *ServerSettings.model_fields)}
    known |= {"AWS_DEFAULT_REGION"}  # an alias of AWS_REGION
    rows = [line for line in _configuration_table().splitlines() if line.startswith("| `")]
    variables = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert variables - known == set()


def test_every_test_the_audit_map_names_exists() -> None:
    audit = (ROOT / "docs" / "audit.md").read_text()
    named = set(re.findall(r"\b(test_\w+)", audit))
    sources = "\n".join(path.read_text() for path in (ROOT / "tests").rglob("test_*.py"))
    defined = set(re.findall(r"^(?:async )?def (test_\w+)", sources, flags=re.MULTILINE))
    modules = {path.stem for path in (ROOT / "tests").rglob("test_*.py")}
    assert named - defined - modules == set()


def test_every_page_the_readme_links_to_exists() -> None:
    links = re.findall(r"\]\(((?:docs/)[^)#]+)", README)
    assert links
    assert [link for link in links if not (ROOT / link).exists()] == []


def test_every_relative_link_in_the_docs_leads_to_a_file() -> None:
    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
