"""The labelling page (FastAPI): one stage output at a time, a verdict per criterion, stored as source=human.

Routes (every one needs the token: ``?token=`` once, which sets an HttpOnly cookie and redirects, or the
``X-Judge-Token`` header, or the cookie):

    GET  /                 the next output this annotator has not labelled in this round (``?skip=N``: the
                           N-th such output), with its context, its task's criteria, progress and agreement
    POST /api/label        {"task", "item_key", "labels": {criterion: label}, "note"} -> stored verdicts
    GET  /api/progress     labelled / total per task, and agreement with the LLM judge (Table 9's form)
    GET  /static/label.js, /static/label.css

Everything shown is autoescaped (stage outputs are model text and may contain markup) and a Content
Security Policy forbids inline scripts, so injected markup can neither render nor run.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel

from recgpt.judge.agreement import agreement
from recgpt.judge.buffer import JudgeBuffer, Verdict
from recgpt.judge.items import JudgeItem
from recgpt.judge.rubric import Rubric, load_rubric

HERE = Path(__file__).parent
COOKIE = "judge_token"
HEADER = "x-judge-token"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"


@dataclass
class LabelSession:
    """What the page serves: the outputs to label, where verdicts go, and who labels in which round."""

    buffer: JudgeBuffer
    items: list[JudgeItem]
    token: str
    round: int = 1
    annotator: str = "human"
    rubric_version: str = "v1"
    llm_judge: str | None = None  # whose agreement with the human labels is shown; None: the busiest judge
    rubrics: dict[str, Rubric] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("the labelling page needs a non-empty token")
        for task in {item.task for item in self.items}:
            self.rubrics.setdefault(task, load_rubric(task, self.rubric_version))
        self.by_key = {(item.task, item.item_key): item for item in self.items}

    def labelled(self) -> set[tuple[str, str]]:
        """(task, item_key) pairs this annotator labelled on every criterion in this round."""
        got = self.buffer.judged_keys("human", judge=self.annotator, round=self.round)
        return {key for key, item in self.by_key.items()
                if all((item.task, item.item_key, c) in got for c in self.rubrics[item.task].criterion_names)}

    def progress(self) -> dict:
        done = self.labelled()
        per_task = {}
        for task in dict.fromkeys(item.task for item in self.items):
            keys = [k for k in self.by_key if k[0] == task]
            per_task[task] = {"labelled": sum(k in done for k in keys), "total": len(keys)}
        return {"labelled": len(done), "total": len(self.items), "tasks": per_task, "round": self.round}

    def judge_name(self) -> str | None:
        if self.llm_judge:
            return self.llm_judge
        judges = self.buffer.judges("llm")
        if not judges:
            return None
        return max(judges, key=lambda j: len(self.buffer.verdicts(source="llm", judge=j)))

    def agreement_rows(self) -> list[dict]:
        judge = self.judge_name()
        if judge is None or self.round not in self.buffer.rounds("human"):
            return []
        tasks = tuple(dict.fromkeys(item.task for item in self.items))
        return [r.as_dict() for r in agreement(self.buffer, judge, self.round, self.rubric_version, tasks)
                if r.criterion == "all"]


class LabelIn(BaseModel):
    task: str
    item_key: str
    labels: dict[str, str]
    note: str = ""


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def create_app(session: LabelSession) -> FastAPI:
    app = FastAPI(title="recgpt judge labelling", docs_url=None, redoc_url=None, openapi_url=None)
    env = _environment()

    def authorised(request: Request) -> bool:
        given = request.headers.get(HEADER) or request.cookies.get(COOKIE) or request.query_params.get("token")
        return bool(given) and secrets.compare_digest(str(given), session.token)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if not authorised(request):
            return HTMLResponse("401: a valid token is required (?token=...)", status_code=401,
                                headers={"Content-Security-Policy": CSP})
        if request.method == "GET" and "token" in request.query_params:
            rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict")
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/", response_class=HTMLResponse)
    def page(skip: int = 0) -> HTMLResponse:
        done = session.labelled()
        todo = [item for item in session.items if (item.task, item.item_key) not in done]
        item = todo[skip % len(todo)] if todo else None
        html = env.get_template("label.html").render(
            item=item, rubric=session.rubrics.get(item.task) if item else None, skip=skip,
            remaining=len(todo), progress=session.progress(), agreement=session.agreement_rows(),
            judge=session.judge_name(), annotator=session.annotator, token=session.token)
        return HTMLResponse(html)

    @app.post("/api/label")
    def label(body: LabelIn, request: Request) -> JSONResponse:
        if request.headers.get(HEADER) is None:  # the page's script sends it; a cross-site form cannot
            raise HTTPException(403, "send the token in the X-Judge-Token header")
        item = session.by_key.get((body.task, body.item_key))
        if item is None:
            raise HTTPException(404, f"no output {body.item_key!r} of task {body.task!r} on this page")
        rubric = session.rubrics[item.task]
        verdicts = []
        for criterion in rubric.criteria:
            raw = body.labels.get(criterion.name)
            label = criterion.normalize(raw) if raw is not None else None
            if label is None:
                raise HTTPException(422, f"criterion {criterion.name!r} needs one of {criterion.label_names}, got {raw!r}")
            verdicts.append(Verdict(task=item.task, item_key=item.item_key, criterion=criterion.name, label=label,
                                    passed=criterion.passes(label), source="human", judge=session.annotator,
                                    rubric_version=rubric.version, round=session.round, input=item.context,
                                    output=item.output, reason=body.note.strip()[:500]))
        session.buffer.add(verdicts)
        return JSONResponse({"stored": len(verdicts), "progress": session.progress()})

    @app.get("/api/progress")
    def progress() -> JSONResponse:
        return JSONResponse({**session.progress(), "judge": session.judge_name(), "agreement": session.agreement_rows()})

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in ("label.js", "label.css"):
            raise HTTPException(404, "not found")
        return FileResponse(HERE / "static" / name)

    return app
