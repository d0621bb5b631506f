"""Secrets only from the environment: nothing that looks like a real credential is tracked in git."""
from __future__ import annotations

import ast
import re
import subprocess

from tests.support.processes import ROOT

# Shapes of real credentials. Test doubles in this repository are deliberately not shaped like them
# (e.g. "sk-test-do-not-leak" is too short for an OpenAI key).
SECRET_PATTERNS = {
    "OpenAI key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"aws_?secret_?access_?key\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])", re.IGNORECASE
    ),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Django secret key literal": re.compile(r"^\s*SECRET_KEY\s*=\s*[\"'](?!.*not-a-secret)[^\"']{20,}[\"']", re.MULTILINE),
    "credentials in a URL": re.compile(r"\b(?:postgres(?:ql)?|redis|rediss|amqp)://[^/\s:@\"']+:[^/\s@\"']{6,}@"),
}
# Secret-like setting names in settings.py; each must be read from the environment.
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD)")
# Placeholders the settings set on purpose (the offline provider needs *a* key; it checks none).
ALLOWED_LITERALS = {("OPENAI_API_KEY", "offline")}


def _tracked_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listing.decode().split("\0") if name]


def test_it_tracks_no_credentials_in_git() -> None:
    found = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        for kind, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {kind}")
    assert not found, "credentials must come from the environment, not git:\n" + "\n".join(found)


def test_it_tracks_no_env_files_or_key_material() -> None:
    suspicious = re.compile(r"(^|/)(\.env(\..+)?|secret_key|.*\.pem|.*\.key|id_rsa|id_ed25519|credentials(\.json)?)$")
    assert [name for name in _tracked_files() if suspicious.search(name)] == []


def test_it_reads_every_secret_setting_from_the_environment() -> None:
    """In settings.py a KEY/SECRET/TOKEN/PASSWORD setting is never a literal string (bar placeholders)."""
    tree = ast.parse((ROOT / "chatter_site" / "settings.py").read_text())
    literals = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Assign, ast.AnnAssign)):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and SECRET_NAME.search(target.id):
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    if (target.id, node.value.value) not in ALLOWED_LITERALS:
                        literals.append(f"{target.id} = {node.value.value!r} (line {node.lineno})")
    assert literals == []
    names_read = set(re.findall(r"env_\w+\(\s*\"([A-Z_]+)\"", (ROOT / "chatter_site" / "settings.py").read_text()))
    assert {"CHATTER_SECRET_KEY", "OPENAI_API_KEY", "CHATTER_METRICS_TOKEN"} <= names_read


def test_it_leaves_aws_credentials_to_the_environment() -> None:
    """django-storages/boto3 read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment."""
    from django.conf import settings

    source = (ROOT / "chatter_site" / "settings.py").read_text()
    assert "AWS_ACCESS_KEY_ID" not in source and "AWS_SECRET_ACCESS_KEY" not in source
    documents = settings.STORAGES["documents"].get("OPTIONS", {})
    assert not {"access_key", "secret_key", "session_token"} & set(documents)
