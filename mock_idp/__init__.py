"""A local authorization server that behaves on the wire like an Authgear project.

    from mock_idp import serve
    idp = serve()              # a free port on 127.0.0.1; idp.url is the issuer
    ...
    idp.stop()

`python -m mock_idp` serves it at http://localhost:4000.
"""

from .app import create_app
from .config import Client, ConfigError, MockConfig, User
from .server import MockConflict, RunningServer, serve

__all__ = ["Client", "ConfigError", "MockConfig", "MockConflict", "RunningServer", "User", "create_app", "serve"]
