"""What the notebooks and the walkthrough share: which provider to use (.env), and the
bundled mock when no Authgear project is configured."""

from .settings import MOCK_ENDPOINT, Settings, SettingsError, ensure_mock, load_settings

__all__ = ["MOCK_ENDPOINT", "Settings", "SettingsError", "ensure_mock", "load_settings"]
