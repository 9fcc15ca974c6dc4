"""Which provider the kit uses: the tutorial's four variables, from .env or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.settings import MOCK_ENDPOINT, SettingsError, load_settings, mock_answers


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET", "AUTHGEAR_ENDPOINT", "AUTHGEAR_REDIRECT_URL", "KIT_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_no_env_file_means_the_bundled_mock(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "missing.env")
    assert settings.is_mock
    assert (settings.endpoint, settings.client_id, settings.client_secret) == (MOCK_ENDPOINT, "mock-client", "mock-secret")
    assert settings.redirect_url == "http://localhost:3000/auth-redirect"


def test_a_filled_in_env_names_the_project(tmp_path: Path) -> None:
    path = write_env(tmp_path, "AUTHGEAR_CLIENT_ID=3f9a1c2b4d5e6f70\nAUTHGEAR_CLIENT_SECRET=s3cret\n"
                               "AUTHGEAR_ENDPOINT=https://demo.authgear.cloud/\nAUTHGEAR_REDIRECT_URL=http://localhost:3000/auth-redirect\n")
    settings = load_settings(path)
    assert not settings.is_mock
    assert settings.endpoint == "https://demo.authgear.cloud"  # the issuer has no trailing slash
    assert (settings.client_id, settings.client_secret) == ("3f9a1c2b4d5e6f70", "s3cret")


def test_the_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_env(tmp_path, "AUTHGEAR_CLIENT_ID=from-file\nAUTHGEAR_CLIENT_SECRET=x\nAUTHGEAR_ENDPOINT=https://a.authgear.cloud\n")
    monkeypatch.setenv("AUTHGEAR_CLIENT_ID", "from-env")
    assert load_settings(path).client_id == "from-env"


def test_kit_env_file_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_env(tmp_path, "AUTHGEAR_CLIENT_ID=x\nAUTHGEAR_CLIENT_SECRET=y\nAUTHGEAR_ENDPOINT=http://127.0.0.1:4011\n")
    monkeypatch.setenv("KIT_ENV_FILE", str(path))
    assert load_settings().endpoint == "http://127.0.0.1:4011"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (Path(__file__).parent.parent.joinpath(".env.example").read_text(), "placeholder"),
        ("AUTHGEAR_CLIENT_ID=abc\nAUTHGEAR_CLIENT_SECRET=def\n", "AUTHGEAR_ENDPOINT is not"),
        ("AUTHGEAR_ENDPOINT=demo.authgear.cloud\nAUTHGEAR_CLIENT_ID=a\nAUTHGEAR_CLIENT_SECRET=b\n", "https://"),
        ("AUTHGEAR_ENDPOINT=https://demo.authgear.cloud\n", "AUTHGEAR_CLIENT_ID, AUTHGEAR_CLIENT_SECRET missing"),
    ],
)
def test_a_half_filled_env_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(write_env(tmp_path, text))


def test_mock_answers_only_for_a_mock_with_that_issuer(idp) -> None:
    assert mock_answers(idp.url)
    assert not mock_answers(idp.url.replace("127.0.0.1", "localhost"))  # another issuer
    assert not mock_answers("http://127.0.0.1:9")  # nothing there
