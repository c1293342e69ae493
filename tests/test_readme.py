"""The README's examples run as written, on the sample incident they name.

Every ```python block runs in order in one namespace, in a folder whose ``data/sample`` is a
small copy of the sample incident (same seed, so the same keys and ARNs as the default one),
except the block that needs AWS credentials (``s3://``; the AWS sources have their own tests).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import forensics as fx
from forensics.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.S)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    fx.sample.write(root / "data" / "sample", events=20_000)
    return root


def test_readme_python_examples_run(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    blocks = [b for b in _blocks("python") if "s3://" not in b]
    assert len(blocks) >= 5
    ns: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), ns)
    # the three investigations found what the sample's story says they should
    story = fx.sample.ground_truth()
    assert ns["br"].credentials.height >= 5
    assert story["leaked_access_key_id"] in set(ns["br"].credentials["access_key_id"])
    assert ns["mine"].events.height > 0
    assert (workdir / "out" / "INC-123" / "manifest.json").exists()
    assert (workdir / "out" / "trail.graphml").exists()


def test_readme_ticket_commands_run(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    commands = [
        line.split("#")[0].split()
        for block in _blocks("bash")
        for line in block.splitlines()
        if line.startswith("forensics ticket")
    ]
    assert len(commands) == 2
    for argv in commands:
        assert main(argv[1:]) == 0, argv
        out = Path(argv[argv.index("--out") + 1])
        assert (workdir / out / "summary.md").exists()
