"""The built wheel is the whole product (issue 20 item 4): it ships every data file the package reads at run time
(the ko-en-102k tokenizer, the quality model), the licence, ranged dependencies; installed into a fresh venv, its
stages run outside the checkout with its own assets.

Offline: the wheel is built with this venv's setuptools (--no-build-isolation) from a copy of the source (nothing is
written into the checkout), and installed with --no-deps --no-index. The fresh venv sees this venv's site-packages
through a .pth line, which adds the folder to sys.path without running its .pth files: the editable install's
finder (`__editable__*lmpipe*`) stays off, so `import lmpipe` can only find the installed wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from conftest import REPO
from packaging.requirements import Requirement

PACKAGE = REPO / "lmpipe"
ASSET_DIRS = [PACKAGE / "tokenizer" / "assets", PACKAGE / "stages" / "quality" / "assets"]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def _data_files() -> list[str]:
    """Every file of the package in the checkout that is not Python source: what the wheel must carry."""
    return sorted(
        p.relative_to(REPO).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    )


def _env(**extra: str) -> dict:
    """No PYTHONPATH (conftest points it at the checkout) and no VIRTUAL_ENV: only the child's own sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def _run(cmd: list, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "lmpipe", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    dist = tmp / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, src],
        cwd=tmp,
    )
    (built,) = dist.glob("lmpipe-*.whl")
    return built


def test_wheel_ships_the_assets_and_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "lmpipe/tokenizer/assets/ko-en-102k/tokenizer.json",
        "lmpipe/tokenizer/assets/ko-en-102k/tokenizer_config.json",
        "lmpipe/tokenizer/assets/ko-en-102k/special_tokens_map.json",
        "lmpipe/stages/quality/assets/model.bin",
        "lmpipe/stages/quality/assets/model.json",
    ):
        assert required in names
    for folder in ASSET_DIRS:
        assert any(folder.iterdir())
    missing = [f for f in _data_files() if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    with zipfile.ZipFile(wheel) as z:  # byte for byte what the checkout has
        assert z.read("lmpipe/stages/quality/assets/model.bin") == (ASSET_DIRS[1] / "model.bin").read_bytes()


def test_wheel_metadata_has_licence_version_and_ranged_dependencies(wheel):
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        (licence,) = [n for n in z.namelist() if re.search(r"\.dist-info/licenses/LICENSE$", n)]
        metadata = z.read(meta).decode()
        assert z.read(licence) == (REPO / "LICENSE").read_bytes()
    licence_text = (REPO / "LICENSE").read_text()
    assert "Apache License" in licence_text and "Version 2.0, January 2004" in licence_text
    assert re.search(r"^Version: 0\.2\.0$", metadata, re.M)
    assert re.search(r"^License-Expression: Apache-2\.0$", metadata, re.M)
    assert re.search(r"^License-File: LICENSE$", metadata, re.M)
    requires = [
        Requirement(line.split(":", 1)[1].strip())
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    exact = sorted(str(r) for r in requires if any(s.operator == "==" for s in r.specifier))
    assert exact == ['torch==2.13.0; extra == "train"']  # the one exact pin: any other torch pulls CUDA
    assert "0.2.0" in (REPO / "CHANGELOG.md").read_text()


def test_constraints_pin_a_version_inside_every_range():
    """constraints.txt (what `make` installs with) pins every dependency and extra at a version its range allows."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            assert not req.extras, f"{line}: pip refuses extras in a constraints file"
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pins[req.name.lower()] = spec.version
    project = PYPROJECT["project"]
    declared = list(project["dependencies"]) + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    for text in declared:
        req = Requirement(text)
        assert req.name.lower() in pins, f"{req.name} has no exact version in constraints.txt"
        assert req.specifier.contains(pins[req.name.lower()]), (
            f"constraints.txt {req.name}=={pins[req.name.lower()]} is outside {req}"
        )
    assert 'pip install --quiet -c constraints.txt -e ".[test,train]"' in (REPO / "Makefile").read_text()


def test_installed_wheel_runs_stages_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)  # pip comes from this venv
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=tmp_path)
    site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).stdout.strip()
    )
    assert (site / "lmpipe" / "tokenizer" / "assets" / "ko-en-102k" / "tokenizer.json").is_file()
    # The dependencies from this venv, without running its .pth files (the editable finder stays off).
    dev_site = Path(sysconfig.get_path("purelib"))
    assert list(dev_site.glob("__editable__*lmpipe*"))  # this venv's editable install, which must not be seen
    (site / "dev-venv-dependencies.pth").write_text(f"{dev_site}\n")

    work = tmp_path / "work"  # cwd: neither the checkout nor the venv
    work.mkdir()
    where = _run(
        [
            python,
            "-c",
            "import sys, lmpipe, lmpipe.tokenizer.load as l, lmpipe.stages.quality.scorer as q; "
            "print(lmpipe.__file__); print(l.DEFAULT_TOKENIZER); print(q.ASSETS); "
            "print(any('editable' in repr(f) for f in sys.meta_path) or any('editable' in m for m in sys.modules))",
        ],
        work,
    ).stdout.split("\n")
    for path in where[:3]:
        assert Path(path).resolve().is_relative_to(venv.resolve()), where
        assert not Path(path).resolve().is_relative_to(REPO), where
    assert where[3] == "False"

    docs = [
        {
            "id": "ko1",
            "text": "대한민국은 민주공화국이다. 대한민국의 주권은 국민에게 있고, 모든 권력은 국민으로부터 나온다.",
            "lang": "ko",
        },
        {
            "id": "en1",
            "text": "Alice was beginning to get very tired of sitting by her sister on the bank.",
            "lang": "en",
        },
        {
            "id": "en2",
            "text": "The committee published its annual report on public libraries and museums.",
            "lang": "en",
        },
    ]
    (work / "docs.jsonl").write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))

    # pack with the default (shipped) tokenizer
    _run([python, "-m", "lmpipe", "run", "pack", "--input", "docs.jsonl", "--output", "out/pack"], work)
    stats = json.loads((work / "out" / "pack" / "stats.json").read_text())
    assert stats["docs_in"] == stats["docs_out"] == 3
    pack = json.loads((work / "out" / "pack" / "shards" / "pack.json").read_text())
    assert Path(pack["tokenizer"]).resolve() == (site / "lmpipe/tokenizer/assets/ko-en-102k/tokenizer.json").resolve()
    assert pack["vocab_size"] == 102_400 and pack["eos_id"] == 1
    assert sum(s["documents"] for s in pack["splits"].values()) == 3

    # quality with the shipped model (min_score 0: every document kept with its score), through the console script
    command = [venv / "bin" / "lmpipe", "run", "quality", "--input", "docs.jsonl", "--output", "out/quality"]
    _run([*command, "--set", "quality.min_score=0"], work)
    stats = json.loads((work / "out" / "quality" / "stats.json").read_text())
    assert stats["docs_in"] == stats["docs_out"] == 3
    scored = [
        score
        for part in sorted((work / "out" / "quality").glob("data/part-*.parquet"))
        for score in pq.read_table(part, columns=["quality_score"]).column("quality_score").to_pylist()
    ]
    assert len(scored) == 3 and all(0.0 < score < 1.0 for score in scored)
