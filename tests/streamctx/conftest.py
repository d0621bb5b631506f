"""The real whisper model, installed once (the real installer) and loaded once per session."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.test import override_settings

from streamctx.audio import transcriber_load
from streamctx.models_install import model_dir_problem, whisper_model_install

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "faster-whisper-base"


@pytest.fixture(scope="session")
def whisper_model_dir() -> Path:
    if model_dir_problem(MODEL_DIR) is not None:
        whisper_model_install(dest=MODEL_DIR, report=lambda line: print(line, file=sys.stderr))
    return MODEL_DIR


@pytest.fixture(scope="session")
def transcriber(whisper_model_dir):
    with override_settings(CHATTER_WHISPER_MODEL=str(whisper_model_dir)):
        return transcriber_load()
