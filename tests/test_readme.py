"""The README's commands are the ones CI and new users run: keep them present and in sync."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _block(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- {name} -->\s*```\s*\n(.*?)\n```\s*<!-- /{name} -->", text, re.S)
    assert m, f"README lacks the {name} block"
    return m.group(1).strip()


def test_readme_commands_present_near_top():
    text = (ROOT / "README.md").read_text()
    assert text.index("<!-- main-command -->") < 3000 and text.index("<!-- test-command -->") < 3000
    main, test = _block("main-command"), _block("test-command")
    assert "constraints.txt" in main and "constraints.txt" in test
    assert "pytest" in test and "examples/pipeline.sh" in main
    assert (ROOT / "examples" / "pipeline.sh").exists()


def test_ci_extracts_the_readme_test_command():
    sed = "sed -n '/<!-- test-command -->/,/<!-- \\/test-command -->/p' README.md | grep -v '^<!--' | grep -v '^```'"
    assert sed.replace("\\/", "\\/") in (ROOT / ".ci" / "run").read_text()
    out = subprocess.run(["bash", "-c", sed], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert out == _block("test-command")
