"""Runbook fixtures: small runbooks built explicitly, and the shipped starter library."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from runbooks import services
from runbooks.fileformat import RunbookData, StepData

LIBRARY = Path(__file__).resolve().parents[2] / "runbooks" / "library"


@pytest.fixture
def make_runbook(db):
    """Save a runbook (as an import would) and return its version. Keyword arguments override
    the RunbookData defaults; `steps` may be a number of generated steps or a list of StepData."""

    def _make(slug="flood", **kwargs):
        steps = kwargs.pop("steps", 2)
        if isinstance(steps, int):
            steps = [
                StepData(title=f"Step {i}", body=f"Do thing {i}.", role="responder", expected_minutes=10)
                for i in range(1, steps + 1)
            ]
        kwargs.setdefault("title", f"Runbook {slug}")
        version, _ = services.save_runbook(None, RunbookData(slug=slug, steps=steps, **kwargs))
        return version

    return _make


@pytest.fixture
def starter_library(db):
    call_command("import_runbooks", str(LIBRARY), stdout=io.StringIO())


def data(slug="flood", steps=None, **kwargs):
    """RunbookData with sensible defaults, for tests that change one thing."""
    kwargs.setdefault("title", "Flood")
    return RunbookData(slug=slug, steps=steps or [StepData(title="Look", role="responder")], **kwargs)
