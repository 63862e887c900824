"""The web page's files in ``forebear/server/ui/`` and their URLs.

``ASSETS`` is the one list of them: ``resources.ui`` serves each, and ``auth`` lets
exactly these through without a token. It imports nothing, so both can read it.
"""

from typing import Final

ASSETS: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/graph.js": ("graph.js", "text/javascript; charset=utf-8"),
    "/ui/layout.js": ("layout.js", "text/javascript; charset=utf-8"),
    "/ui/style.css": ("style.css", "text/css; charset=utf-8"),
    "/ui/icon.svg": ("icon.svg", "image/svg+xml"),
}
"""URL path -> (file in ``forebear/server/ui/``, media type)."""
