"""One error vocabulary: every code has a status, every raise site names its code from the enum."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from django.test import RequestFactory
from pydantic import BaseModel, StrictInt

from chatter_site.lib.api import api_errors, body_parse
from chatter_site.lib.errors import (
    CODE_BY_STATUS,
    HTTP_STATUS,
    ChatterError,
    ErrorCode,
    code_for_status,
    schema_validate,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("chat", "scribe", "memory", "personas", "streamctx", "chatter_site", "bench")


def test_it_gives_every_code_a_status():
    assert set(HTTP_STATUS) == set(ErrorCode)
    assert all(400 <= status < 600 for status in HTTP_STATUS.values())


def test_it_answers_a_bare_status_with_the_code_of_that_status():
    assert all(HTTP_STATUS[code] == status for status, code in CODE_BY_STATUS.items())
    assert code_for_status(404) == ErrorCode.NOT_FOUND
    assert code_for_status(502) == ErrorCode.SERVER_ERROR
    assert code_for_status(418) == ErrorCode.INVALID


def test_it_accepts_the_wire_strings_and_refuses_an_unknown_code():
    assert ChatterError("stale", "moved on").code is ErrorCode.STALE
    assert ChatterError(ErrorCode.STALE, "moved on").http_status == 409
    with pytest.raises(ValueError):
        ChatterError("no_such_code", "a typo")


def test_it_answers_a_view_error_in_the_one_shape():
    @api_errors
    def view(request):
        raise ChatterError(ErrorCode.TIMED_OUT, "wait", extra={"until": "2030-01-01T00:00:00Z"})

    response = view(RequestFactory().get("/api/x"))
    assert response.status_code == 403
    assert json.loads(response.content) == {"error": {"code": "timed_out", "detail": "wait", "until": "2030-01-01T00:00:00Z"}}


class _Body(BaseModel):
    version: StrictInt


def test_it_summarises_a_bad_body_as_where_and_what():
    request = RequestFactory().post("/api/x", data=b'{"version": "2"}', content_type="application/json")
    with pytest.raises(ChatterError) as refused:
        body_parse(request, _Body)
    assert refused.value.code == ErrorCode.INVALID
    assert refused.value.message.startswith("version: ")
    with pytest.raises(ChatterError) as top:
        schema_validate(_Body, [], root="frame")
    assert top.value.message.startswith("frame: ")


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """ChatterError and every class that derives from it, by name, across the sources."""
    names = {"ChatterError"}
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names:
                    bases = {base.id if isinstance(base, ast.Name) else getattr(base, "attr", "") for base in node.bases}
                    if bases & names:
                        names.add(node.name)
                        grew = True
    return names


def _bare_codes(path: Path, tree: ast.Module, classes: set[str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in classes:
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "__init__"
                    and call.args
                    and isinstance(call.args[0], ast.Constant)
                    and isinstance(call.args[0].value, str)
                ):
                    found.append(f"{path}:{call.lineno}: super().__init__({call.args[0].value!r})")
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in classes and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append(f"{path}:{node.lineno}: {name}({node.args[0].value!r})")
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "code":
            for right in node.comparators:
                values = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else [right]
                if any(isinstance(v, ast.Constant) and v.value in set(ErrorCode) for v in values):
                    found.append(f"{path}:{node.lineno}: .code compared with a bare string")
    return found


def test_it_names_every_code_from_the_enum_at_every_raise_site():
    files = [
        path
        for folder in SOURCE_DIRS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
    ]
    trees = {path: ast.parse(path.read_text(), filename=str(path)) for path in files}
    classes = _error_classes(list(trees.values()))
    assert {"ChatterError", "LLMCallError"} <= classes
    bare = [line for path, tree in trees.items() for line in _bare_codes(path.relative_to(ROOT), tree, classes)]
    assert bare == []
