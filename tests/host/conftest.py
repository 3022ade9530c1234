"""A new host, as a user makes one: the built wheel in a fresh virtualenv, a
``startproject``, and only what the README's install section says.

``built_wheel`` builds the package the way the README says (``pip wheel``, in
pip's isolated build environment). ``host_python`` is a new virtualenv with
that wheel installed by pip; its dependencies (Django, Celery, boto3...) are
the test environment's, seen through a ``.pth`` file, so nothing is fetched
and the package itself is the wheel's copy, not the checkout's.
"""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
README = BASE_DIR / "README.md"


def run(args: list[str], *, cwd: Path | None = None, timeout: int = 300, check: bool = True):
    """Run a host-side command with a clean environment (no test settings leak in)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL", "MOTO_S3_ENDPOINT"}
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """``python -m pip wheel --no-deps <checkout> -w dist``, as the README says."""
    dist = tmp_path_factory.mktemp("dist")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            str(BASE_DIR),
            "-w",
            str(dist),
        ]
    )
    (wheel,) = dist.glob("django_verify_student_lti-*.whl")
    return wheel


@pytest.fixture(scope="session")
def host_python(built_wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv's python with the wheel installed (and nothing of the checkout)."""
    venv = tmp_path_factory.mktemp("host-venv")
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    # The dependencies, from the test environment; not its editable install of this package.
    (Path(purelib) / "test-environment.pth").write_text(site.getsitepackages()[0] + "\n")
    run(
        [
            sys.executable, "-m", "pip", "--python", str(python), "install",
            "--no-deps", "--no-index", "--quiet", str(built_wheel),
        ]
    )  # fmt: skip
    located = run(
        [
            str(python),
            "-c",
            "import verify_student, lti_provider as l; print(verify_student.__file__, l.__file__)",
        ],
        cwd=venv,  # not the checkout, which `python -c` would put first on sys.path
    ).stdout.split()
    assert all(path.startswith(purelib) for path in located), located
    return python


@dataclass(frozen=True)
class InstallSteps:
    """The README's install section, read as a new host would follow it."""

    text: str

    @classmethod
    def from_readme(cls) -> InstallSteps:
        readme = README.read_text()
        start = readme.index("## Install in a host LMS\n")
        end = readme.index("\n## ", start + 1)
        return cls(readme[start:end])

    def step(self, number: int) -> str:
        match = re.search(rf"^### {number}\. .*?(?=^### |\Z)", self.text, re.M | re.S)
        assert match, f"no step {number} in the README's install section"
        return match.group(0)

    def python_blocks(self, number: int, target: str) -> list[str]:
        """The step's ```python blocks whose first line is exactly ``# <target>``."""
        blocks = re.findall(r"```python\n(.*?)```", self.step(number), re.S)
        return [block for block in blocks if block.splitlines()[0].strip() == f"# {target}"]

    def commands(self, number: int) -> list[list[str]]:
        """The step's ``python manage.py ...`` lines (comments dropped), split into words."""
        blocks = re.findall(r"```sh\n(.*?)```", self.step(number), re.S)
        lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
        return [line.split()[2:] for line in lines if line.startswith("python manage.py ")]
