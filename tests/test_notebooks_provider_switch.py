"""Switching provider through .env works: every notebook runs, with no cell changed, against a
second mock set up like a real Authgear tenant.

The tenant has another origin (http://127.0.0.1:<port>, not http://localhost:4000), a client ID and
secret shaped like Authgear's (16 hex characters, 32 characters of [0-9A-Za-z_]), and only what
notebook 01 tells a learner to register in the portal: the redirect URI and the post-logout URI.
The notebooks learn all of that from a .env file named by KIT_ENV_FILE, exactly as a learner's
.env would tell them. With an AUTHGEAR_ENDPOINT the kit treats the provider as a real project, so
cells that would move the mock's clock take their real-project path too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from mock_idp import Client, MockConfig, RunningServer, serve

ROOT = Path(__file__).resolve().parent.parent
# The protocol notebooks, 01 to 09. Notebook 10, the security lab, runs on a mock of its own by design
# (its attacks change users and register ports: never on a project or a room); tests/test_tutorial_app.py
# and nbval cover it.
NOTEBOOKS = sorted(path for path in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb") if path.name < "10")

TENANT_CLIENT_ID = "3f9a1c2b4d5e6f70"
TENANT_CLIENT_SECRET = "q7Rk2_Vx9LmN4pT8wZ3bC6dF1gH5jK0s"
REDIRECT_URI = "http://localhost:3000/auth-redirect"  # what notebook 01 says to register
POST_LOGOUT_URI = "http://localhost:3000"

MOCK_ENDPOINT = "http://localhost:4000"


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    config = MockConfig.demo()  # keeps the demo users: KIT_AUTOLOGIN=1 logs in as alice
    config.clients = {
        TENANT_CLIENT_ID: Client(
            client_id=TENANT_CLIENT_ID,
            client_secret=TENANT_CLIENT_SECRET,
            name="My App",
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[POST_LOGOUT_URI],
        )
    }
    server = serve(port=0, config=config)
    env_file = tmp_path_factory.mktemp("learner") / ".env"
    env_file.write_text(
        f"AUTHGEAR_CLIENT_ID={TENANT_CLIENT_ID}\n"
        f"AUTHGEAR_CLIENT_SECRET={TENANT_CLIENT_SECRET}\n"
        f"AUTHGEAR_ENDPOINT={server.url}\n"
        f"AUTHGEAR_REDIRECT_URL={REDIRECT_URI}\n"
    )
    try:
        yield server, env_file
    finally:
        server.stop()


def output_text(notebook: nbformat.NotebookNode) -> tuple[str, list[str]]:
    """All text the cells printed, and the problems: errors and anything on stderr."""
    text, problems = [], []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                text.append(output.text)
                if output.name == "stderr":
                    problems.append(f"cell {index} wrote to stderr: {output.text.strip()[:300]}")
            elif output.output_type == "error":
                problems.append(f"cell {index} raised {output.ename}: {output.evalue}")
            else:
                text.append(output.get("data", {}).get("text/plain", ""))
    return "".join(text), problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs_unchanged_against_a_tenant(
    path: Path, tenant: tuple[RunningServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, env_file = tenant
    monkeypatch.setenv("KIT_ENV_FILE", str(env_file))
    monkeypatch.setenv("KIT_AUTOLOGIN", "1")
    for name in ("AUTHGEAR_ENDPOINT", "AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET", "AUTHGEAR_REDIRECT_URL",
                 "KIT_PASTE_BACK"):
        monkeypatch.delenv(name, raising=False)  # the .env file alone decides
    notebook = nbformat.read(path, as_version=4)
    sources = [cell.source for cell in notebook.cells]

    client = NotebookClient(notebook, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed against the tenant at {server.url}:\n{error}", pytrace=False)

    assert [cell.source for cell in notebook.cells] == sources, "A cell was changed: the switch must need none."
    text, problems = output_text(notebook)
    assert not problems, f"{path.name}: " + "; ".join(problems)
    assert server.url in text, f"{path.name} never mentions the tenant's origin {server.url}: which provider did it use?"
    assert TENANT_CLIENT_ID in text, f"{path.name} never mentions the tenant's client ID."
    assert "Provider: the bundled mock" not in text, f"{path.name} used the bundled mock although .env names a tenant."
    assert not re.search(r"(GET|POST) " + re.escape(MOCK_ENDPOINT), text), f"{path.name} sent a request to the bundled mock."
    assert not re.search(r"\bmock-client\b", text), f"{path.name} mentions the mock's client ID mock-client."

