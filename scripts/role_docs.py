"""Writes each role's variable reference into its README from meta/argument_specs.yml.

python scripts/role_docs.py          rewrite the section between the markers
python scripts/role_docs.py --check  fail when a README is out of date (run by the linters)
"""

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROLES = Path(__file__).resolve().parents[1] / "ansible_collections/fastapi_vps/stack/roles"
BEGIN = "<!-- BEGIN ARGUMENT SPECS (scripts/role_docs.py) -->"
END = "<!-- END ARGUMENT SPECS -->"


def _text(value: object) -> str:
    """One line of Markdown from a spec description (a string or a list of them)."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = " ".join(str(value).split()).replace("|", "\\|")
    return re.sub(r"\b[CIV]\(([^)]*)\)", r"`\1`", text)


def _default(spec: dict[str, Any]) -> str:
    if "default" not in spec:
        return "see defaults/main.yml" if not spec.get("required") else "**required**"
    dumped = yaml.safe_dump(spec["default"], default_flow_style=True)
    return f"`{dumped.strip().removesuffix('...').strip()}`"


def render(role: Path) -> str:
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    lines = [BEGIN]
    # Entry points that share one options block (a YAML alias) list it once.
    first_with: dict[int, str] = {}
    for entry, spec in specs.items():
        summary = _text(spec.get("short_description", ""))
        lines += ["", f"### Entry point `{entry}`", "", summary, ""]
        options = spec.get("options", {})
        if id(options) in first_with:
            lines += [f"Its variables are those of `{first_with[id(options)]}`."]
            continue
        first_with[id(options)] = entry
        lines += ["| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for name, option in options.items():
            kind = option.get("type", "str")
            if "elements" in option:
                kind += f" of {option['elements']}"
            if "choices" in option:
                kind += " (" + ", ".join(str(c) for c in option["choices"]) + ")"
            description = _text(option.get("description", ""))
            for sub, sub_option in option.get("options", {}).items():
                description += f" `{sub}`: {_text(sub_option.get('description', ''))}"
            lines.append(f"| `{name}` | {kind} | {_default(option)} | {description} |")
    lines += ["", END]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale READMEs")
    args = parser.parse_args()
    stale = []
    for role in sorted(p for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists()):
        readme = role / "README.md"
        text = readme.read_text() if readme.exists() else f"# {role.name}\n\n{BEGIN}\n{END}\n"
        if BEGIN not in text or END not in text:
            stale.append(f"{readme}: markers missing")
            continue
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        updated = head + render(role) + tail
        if updated != text:
            stale.append(str(readme))
            if not args.check:
                readme.write_text(updated)
    if args.check and stale:
        print("out of date (run `python scripts/role_docs.py`):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
