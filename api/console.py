"""The operations console at `/console`: server-rendered pages for leads, one lead's story, the
dashboard and the routing config, and buttons that act on a lead.

Pages are Jinja2 templates (`api/templates/`) over the plain data `service.console` builds;
the buttons are HTML forms, so the console needs no JavaScript. The buttons act through the
same service calls as the admin API (`decide_on_lead`, `retry_lead`), with the same checks.
Every page needs a session (see `api.console_auth`); without one it redirects to the login.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api import console_auth
from api.console_auth import Session
from api.deps import ServicesDep
from service import console, records
from service.errors import Conflict, NotFound
from service.rep_decisions import DecisionIn, decide_on_lead

HERE: Final = Path(__file__).resolve().parent
ACTOR: Final = "console admin"
DECISIONS: Final = {"accept": "Accepted", "reassign": "Reassigned", "not_a_fit": "Marked not a fit"}

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")


class CsrfRefused(Exception):
    """A form post without this session's CSRF token: answered 403."""


class LoginRequired(Exception):
    """No session: the page answers with a redirect to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _when(value: Any, zone: bool = True) -> str:
    """An ISO timestamp as `2026-12-01 06:05:14 UTC` (without `UTC` when `zone` is false)."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value or "—")
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{shown} UTC" if zone and moment.tzinfo else shown


def _ms(value: Any) -> str:
    if value is None:
        return "—"
    ms = float(value)
    return f"{ms / 1000:,.2f} s" if ms >= 1000 else f"{ms:,.1f} ms"


def _label(value: Any) -> str:
    return str(value).replace("_", " ") if value not in (None, "") else "—"


templates.env.filters.update(when=_when, ms=_ms, label=_label)


async def require_session(request: Request, services: ServicesDep) -> Session:
    """The signed-in admin's session; without one the page redirects to the login."""
    granted = console_auth.access(services.settings, request)
    if granted.session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else "/console/leads")
    return granted.session


SessionDep = Annotated[Session, Depends(require_session)]


async def require_csrf(session: SessionDep, csrf: Annotated[str, Form()] = "") -> Session:
    """The session of a form post carrying the session's CSRF token; else 403."""
    if not console_auth.csrf_ok(session, csrf):
        raise CsrfRefused()
    return session


CsrfDep = Annotated[Session, Depends(require_csrf)]


def page(
    request: Request,
    name: str,
    session: Session | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a console template with the session (for its forms) and the current section."""
    return templates.TemplateResponse(
        request,
        name,
        {"session": session, "section": name.removesuffix(".html"), **context},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


# Signing in -----------------------------------------------------------------------------------


def _safe_next(path: str | None) -> str:
    """Where to go after the login: a console path, never another site."""
    if path and path.startswith("/console") and not path.startswith("//"):
        return path
    return "/console/leads"


@router.get("/login")
async def login_form(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    """The login form (or why the console is closed)."""
    settings = services.settings
    granted = console_auth.access(settings, request)
    if granted.session is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    if settings.admin_token is None and settings.admin_open:  # open: no token to ask for
        response = RedirectResponse(_safe_next(next), status_code=303)
        console_auth.sign_in(settings, request, response)
        return response
    return page(request, "login.html", None, closed=granted.closed, next=_safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the admin token and start a session."""
    settings = services.settings
    granted = console_auth.access(settings, request)
    if granted.closed is not None:
        return page(request, "login.html", None, 403, closed=granted.closed, next=next)
    if not console_auth.token_matches(settings, token):
        return page(
            request,
            "login.html",
            None,
            401,
            problem="That is not the admin token.",
            next=_safe_next(next),
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    console_auth.sign_in(settings, request, response)
    return response


@router.post("/logout")
async def logout(_: CsrfDep) -> Response:
    """End the session."""
    response = RedirectResponse("/console/login", status_code=303)
    console_auth.sign_out(response)
    return response


# Pages ----------------------------------------------------------------------------------------


@router.get("")
async def home(_: SessionDep) -> Response:
    return RedirectResponse("/console/leads", status_code=303)


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/leads")
async def leads(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    status: str | None = None,
    action: str | None = None,
    owner: str | None = None,
    grade: str | None = None,
    q: str | None = None,
    page_no: Annotated[int, Query(alias="page", ge=0)] = 0,
) -> Response:
    """Recent leads, filtered and searched, one page at a time."""
    filters = console.LeadFilter(
        status=_blank(status),
        action=_blank(action),
        owner=_blank(owner),
        grade=_blank(grade),
        q=_blank(q),
    )
    found = await console.lead_page(services, filters, page_no)
    query = filters.as_query()

    def link(to_page: int) -> str:
        return "/console/leads?" + urlencode({**query, "page": to_page})

    return page(
        request,
        "leads.html",
        session,
        found=found,
        filters=filters,
        statuses=console.STATUSES,
        actions=console.ACTIONS,
        grades=console.GRADES,
        owners=console.owners(services),
        newer=link(found["page"] - 1) if found["page"] > 0 else None,
        older=link(found["page"] + 1) if found["has_more"] else None,
    )


async def _lead_page(
    request: Request,
    services: ServicesDep,
    session: Session,
    lead_id: str,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    try:
        view = await console.lead_view(services, lead_id)
    except NotFound:
        return page(request, "not_found.html", session, 404, lead_id=lead_id)
    return page(request, "lead.html", session, status_code, view=view, **extra)


@router.get("/leads/{lead_id}")
async def lead(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    lead_id: str,
    done: str | None = None,
) -> Response:
    """One lead: its timeline, score, routing, draft, messages, receipts and rep actions."""
    notice = {"retry": "Queued again; it resumes from the step that failed.", **DECISIONS}
    return await _lead_page(request, services, session, lead_id, notice=notice.get(done or ""))


async def _refused(
    request: Request,
    services: ServicesDep,
    session: Session,
    lead_id: str,
    status_code: int,
    detail: str,
) -> Response:
    """The lead page again, saying why the button was refused."""
    return await _lead_page(
        request, services, session, lead_id, status_code=status_code, refused=detail
    )


def _back_to(lead_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/leads/{quote(lead_id)}?done={done}", status_code=303)


@router.post("/leads/{lead_id}/retry")
async def retry(
    request: Request, services: ServicesDep, session: CsrfDep, lead_id: str
) -> Response:
    """Resume a failed lead from its checkpoint, as `POST /admin/retry/{id}` does."""
    try:
        await records.retry_lead(services, lead_id)
    except Conflict as exc:
        return await _refused(request, services, session, lead_id, 409, exc.detail)
    except NotFound:
        return page(request, "not_found.html", session, 404, lead_id=lead_id)
    return _back_to(lead_id, "retry")


@router.post("/leads/{lead_id}/decision")
async def decide(
    request: Request,
    services: ServicesDep,
    session: CsrfDep,
    lead_id: str,
    action: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Accept, reassign or mark a lead not a fit, as the Slack buttons and the admin API do."""
    if action not in DECISIONS:
        return await _refused(request, services, session, lead_id, 422, f"no action {action!r}")
    decision = DecisionIn.model_validate(
        {"action": action, "actor": ACTOR, "reason": reason.strip()[:1000] or None}
    )
    try:
        await decide_on_lead(services, lead_id, decision)
    except Conflict as exc:
        return await _refused(request, services, session, lead_id, 409, exc.detail)
    except NotFound:
        return page(request, "not_found.html", session, 404, lead_id=lead_id)
    return _back_to(lead_id, action)


@router.get("/dashboard")
async def dashboard(request: Request, services: ServicesDep, session: SessionDep) -> Response:
    """Leads per hour, action mix, time to notify, time per node, failures and fairness."""
    return page(request, "dashboard.html", session, d=await console.dashboard(services))


@router.get("/routing")
async def routing(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    backtest: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> Response:
    """The routing config as tables; with `backtest=N`, the newest N leads replayed through it."""
    result = await console.backtest(services, backtest) if backtest else None
    return page(
        request,
        "routing.html",
        session,
        cfg=console.routing_table(services),
        backtest=result,
        backtest_default=console.BACKTEST_LEADS,
    )


def install(app: FastAPI) -> None:
    """Mount the console: its routes, its stylesheet and the redirect to the login."""

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        target = "/console/login?" + urlencode({"next": exc.next_path})
        return RedirectResponse(target, status_code=303)

    async def refuse(request: Request, exc: Exception) -> Response:
        session = console_auth.access(request.app.state.services.settings, request).session
        return page(request, "refused.html", session, 403)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(CsrfRefused, refuse)
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
