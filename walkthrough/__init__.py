"""The walkthrough: the Express app of Authgear's tutorial, rebuilt in Python on Starlette,
with the tutorial's security mistakes fixed and a view that ties each step of the flow to
the notebook that performs it by hand.

    python -m walkthrough            # http://localhost:3000, with the bundled mock if no .env

    from walkthrough import create_app
    app = create_app(settings)       # kit.settings.Settings: any Authgear project or mock
"""

from .app import create_app

__all__ = ["create_app"]
