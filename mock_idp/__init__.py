"""A local authorization server that behaves on the wire like an Authgear project.

    from mock_idp import serve
    idp = serve()              # a free port on 127.0.0.1; idp.url is the issuer
    ...
    idp.stop()

`python -m mock_idp` serves it at http://localhost:4000. `serve(profile="strict")` (or
`--profile strict`) follows the RFCs where Authgear is looser (mock_idp/profiles.py).
"""

from .app import create_app
from .config import Client, ConfigError, MockConfig, User
from .profiles import PROFILES, Profile
from .server import MockConflict, RunningServer, serve

__all__ = ["Client", "ConfigError", "MockConfig", "MockConflict", "PROFILES", "Profile", "RunningServer", "User",
           "create_app", "serve"]
