"""``GET /ui?user=ID``: search a user and see their chain like the report's Figure 8 (compressed history,
interests, tags mapped to categories, recommended items with explanations and the interest or tag that
retrieved each), from the same answers as the API. Behind the API key (``/ui?key=KEY`` once sets a cookie).

Everything shown is autoescaped (model text may contain markup) and a Content Security Policy forbids inline
scripts, so injected markup can neither render nor run. ``/ui/static/chain.js`` only highlights, on hover or
focus, the items a tag retrieved.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from recgpt.serve import service

HERE = Path(__file__).parent
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
           "Referrer-Policy": "no-referrer"}
STATIC = {"chain.js": "text/javascript", "chain.css": "text/css"}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def register_page(app: FastAPI, holder, config) -> None:
    env = _environment()

    @app.get("/ui", response_class=HTMLResponse, include_in_schema=False)
    async def page(user: str = Query("", max_length=200), k: int = Query(0, ge=0)) -> HTMLResponse:
        state = holder.current
        k = min(k or config.default_k, config.max_k)
        user = user.strip()
        context = {"user": user, "k": k, "run": state.summary(), "profile": None, "recs": None, "error": None,
                   "examples": _examples(state)}
        status = 200
        if user:
            if user in state.users:
                context["profile"] = service.profile(state, user)
                context["recs"] = service.recommend_users(state, [user], k, state.beta)[0]
            else:
                context["error"] = str(service.unknown_user(state, user))
                status = 404
        return HTMLResponse(env.get_template("chain.html").render(**context), status_code=status, headers=HEADERS)

    @app.get("/ui/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise HTTPException(404, "not found")
        return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers=HEADERS)


def _examples(state, n: int = 6) -> list[str]:
    """A few users worth looking at: those with interests first (sorted), then any."""
    chosen = sorted(state.interests)[:n]
    return chosen + [u for u in sorted(state.users)[: 2 * n] if u not in chosen][: n - len(chosen)]
