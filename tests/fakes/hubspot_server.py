"""A local HubSpot: the CRM v3/v4 endpoints the HubSpot adapter calls, in memory, errors included.

Authentication is `Authorization: Bearer <token>` (a private app's access token); none or a
wrong one → 401 `{"status": "error", "category": "INVALID_AUTHENTICATION", ...}`. Error bodies
have HubSpot's shape: `{"status": "error", "message", "correlationId", "category"}`. Record
ids are numeric strings. Endpoints and answers (each has an operation name, used by the
controls and the request log):

- `contacts.upsert` `POST /crm/v3/objects/contacts/batch/upsert` `{"inputs": [{"id": <email>,
  "idProperty": "email", "properties"}]}` → 200 `{"status": "COMPLETE", "results": [{"id",
  "properties", "createdAt", "updatedAt", "archived", "new"}], "startedAt", "completedAt"}`;
  an input without `idProperty` → 400 VALIDATION_ERROR.
- `contacts.get` `GET /crm/v3/objects/contacts/{id}` (`?idProperty=email` to read by email,
  `properties=a,b`) → the object, or 404 OBJECT_NOT_FOUND.
- `contacts.update` `PATCH /crm/v3/objects/contacts/{id}` `{"properties"}`; a
  `hubspot_owner_id` that is no owner → 400 VALIDATION_ERROR (INVALID_OWNER_ID).
- `companies.search` `POST /crm/v3/objects/companies/search` with `filterGroups` of `EQ`,
  `GT`, `GTE`, `LT` and `LTE` filters (a datetime compares as epoch milliseconds), `sorts`
  (`[{"propertyName", "direction"}]`), `limit` (at most 200) and `after` → `{"total",
  "results", "paging"?}`; paging past `search_cap` (10,000) results → 400. The search index
  lags: a company
  created or changed here stays out of search results for the next `search_lag` searches
  (reads by id see it at once).
- `companies.list` `GET /crm/v3/objects/companies` (`limit` ≤ 100, `after`, `properties`,
  `archived`) → `{"results", "paging"?}` in id order.
- `companies.create` `POST /crm/v3/objects/companies` `{"properties"}` → 201; a domain already
  held by a company → 409 CONFLICT, `message` "Company already exists. Existing ID: <id>".
- `companies.get` `GET /crm/v3/objects/companies/{id}` → the object, or 404.
- `associations.default` `PUT /crm/v4/objects/{from}/{id}/associations/default/{to}/{id}` →
  200 with both directions' `associationSpec`; the pair is stored once however often it is put.
- `associations.list` `GET /crm/v4/objects/{from}/{id}/associations/{to}` → `{"results":
  [{"toObjectId", "associationTypes"}]}` (paged with `limit`/`after`).
- `notes.create` / `tasks.create` `POST /crm/v3/objects/{notes|tasks}` `{"properties",
  "associations"}` → 201; without `properties.hs_timestamp` → 400 VALIDATION_ERROR.
- `notes.read` / `tasks.read` `POST /crm/v3/objects/{notes|tasks}/batch/read` `{"inputs":
  [{"id"}], "properties"}` → `{"status": "COMPLETE", "results"}`.
- `owners.list` `GET /crm/v3/owners/` (`limit`, `after`, `archived`) → `{"results": [{"id",
  "email", "firstName", "lastName", "userId", "type", "archived", "createdAt", "updatedAt"}],
  "paging"?}`.
- anything else → 404.

Controls: `rate_limit_next(times, retry_after=None, policy=...)` answers 429 with HubSpot's
rate-limit body (`errorType: RATE_LIMIT`, `policyName` — `TEN_SECONDLY_ROLLING`,
`SECONDLY` or `DAILY`) and `Retry-After` only when given; `fail_next(status, times)` answers an
HTML error page as a load balancer does; `delay_next(seconds)` holds requests before handling
them (the write still happens for a client that gave up). Each takes `operation=` to aim at one
endpoint. `fail_after_next(status, operation=)` handles the request (the write happens) and
then answers the error, as a gateway timing out after HubSpot committed does. Every request is
recorded (`requests`: operation, method, path, query, JSON body, status, arrival time).
`running_hubspot()` serves it under uvicorn on 127.0.0.1 in a thread and yields
`(base_url, fake)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from tests.fakes import serving

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"

_OBJECT_TYPES = {
    "contact": "contacts",
    "contacts": "contacts",
    "0-1": "contacts",
    "company": "companies",
    "companies": "companies",
    "0-2": "companies",
    "note": "notes",
    "notes": "notes",
    "0-46": "notes",
    "task": "tasks",
    "tasks": "tasks",
    "0-27": "tasks",
}
# HubSpot-defined default association type ids, (from, to) → typeId.
DEFAULT_TYPES = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
}

_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("contacts.upsert", "POST", re.compile(r"^/crm/v3/objects/contacts/batch/upsert$")),
    ("contacts.get", "GET", re.compile(r"^/crm/v3/objects/contacts/(?P<id>[^/]+)$")),
    ("contacts.update", "PATCH", re.compile(r"^/crm/v3/objects/contacts/(?P<id>[^/]+)$")),
    ("companies.search", "POST", re.compile(r"^/crm/v3/objects/companies/search$")),
    ("companies.create", "POST", re.compile(r"^/crm/v3/objects/companies$")),
    ("companies.list", "GET", re.compile(r"^/crm/v3/objects/companies/?$")),
    ("companies.get", "GET", re.compile(r"^/crm/v3/objects/companies/(?P<id>[^/]+)$")),
    (
        "associations.default",
        "PUT",
        re.compile(
            r"^/crm/v4/objects/(?P<from_type>[^/]+)/(?P<from_id>[^/]+)/associations/default/"
            r"(?P<to_type>[^/]+)/(?P<to_id>[^/]+)$"
        ),
    ),
    (
        "associations.list",
        "GET",
        re.compile(
            r"^/crm/v4/objects/(?P<from_type>[^/]+)/(?P<from_id>[^/]+)/associations/"
            r"(?P<to_type>[^/]+)$"
        ),
    ),
    ("notes.create", "POST", re.compile(r"^/crm/v3/objects/notes$")),
    ("notes.read", "POST", re.compile(r"^/crm/v3/objects/notes/batch/read$")),
    ("tasks.create", "POST", re.compile(r"^/crm/v3/objects/tasks$")),
    ("tasks.read", "POST", re.compile(r"^/crm/v3/objects/tasks/batch/read$")),
    ("owners.list", "GET", re.compile(r"^/crm/v3/owners/?$")),
]


@dataclass
class _Fault:
    kind: str  # ratelimit | fail | fail_after | delay
    times: int
    operation: str | None
    status: int = 0
    retry_after: str | None = None
    policy: str = "TEN_SECONDLY_ROLLING"
    delay_s: float = 0.0


@dataclass
class RequestSeen:
    """One request the server received; `status` is 0 while it is still being handled."""

    operation: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    at: float
    status: int = 0


@dataclass
class _Record:
    id: str
    properties: dict[str, str]
    created_at: str
    updated_at: str
    hidden_searches: int = 0  # searches that still miss it (index lag)
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self, wanted: list[str] | None = None) -> dict[str, Any]:
        props = dict(self.properties)
        if wanted is not None:
            props = {k: v for k, v in props.items() if k in wanted or k == "hs_object_id"}
        return {
            "id": self.id,
            "properties": props,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": False,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, category: str, message: str, **extra: Any) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return JSONResponse(body, status_code=status)


def _props(values: Any) -> dict[str, str]:
    """Property values as HubSpot stores them: strings; None clears nothing here."""
    if not isinstance(values, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in values.items()}


class FakeHubSpot:
    """State and fault controls of one fake HubSpot account; `app` is its ASGI application."""

    def __init__(
        self,
        *,
        token: str = TOKEN,
        owners: list[dict[str, Any]] | None = None,
        search_lag: int = 0,
        search_cap: int = 10_000,
    ) -> None:
        self.token = token
        self.search_lag = search_lag
        self.search_cap = search_cap
        self.base_url = ""
        self.requests: list[RequestSeen] = []
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._ids = itertools.count(100_001)
        self.contacts: dict[str, _Record] = {}
        self.companies: dict[str, _Record] = {}
        self.notes: dict[str, _Record] = {}
        self.tasks: dict[str, _Record] = {}
        # (from_type, from_id, to_type, to_id) → typeId
        self.associations: dict[tuple[str, str, str, str], int] = {}
        self.owners: list[dict[str, Any]] = []
        for owner in owners or []:
            self.add_owner(**owner)
        self.app = self._build_app()

    # Controls and inspection, called from the test's thread

    def add_owner(
        self, id: str, email: str, first_name: str = "", last_name: str = "", archived: bool = False
    ) -> None:
        """Add a HubSpot user who can own records."""
        with self._lock:
            self.owners.append(
                {
                    "id": str(id),
                    "email": email,
                    "firstName": first_name,
                    "lastName": last_name,
                    "userId": int(id) + 9_000_000 if str(id).isdigit() else None,
                    "type": "PERSON",
                    "archived": archived,
                    "createdAt": _now(),
                    "updatedAt": _now(),
                    "teams": [],
                }
            )

    def add_company(self, domain: str, name: str = "", **properties: Any) -> str:
        """A company already in the account (searchable at once); returns its id."""
        with self._lock:
            record = self._new(self.companies, {"domain": domain, "name": name, **properties})
            return record.id

    def update_company(self, company_id: str, **properties: Any) -> None:
        """Change a company as a user would in HubSpot (its `hs_lastmodifieddate` moves)."""
        with self._lock:
            record = self.companies[company_id]
            self._touch(record)
            record.properties.update(_props(properties))
            record.hidden_searches = self.search_lag

    def archive_company(self, company_id: str) -> None:
        """Archive a company: reads and searches no longer show it."""
        with self._lock:
            self.companies[company_id].extra["archived"] = True

    def add_contact(self, email: str, **properties: Any) -> str:
        """A contact already in the account (as a form or an import leaves it); returns its id."""
        with self._lock:
            return self._new(self.contacts, {"email": email.lower(), **properties}).id

    def rate_limit_next(
        self,
        times: int = 1,
        retry_after: str | None = None,
        *,
        policy: str = "TEN_SECONDLY_ROLLING",
        operation: str | None = None,
    ) -> None:
        """Answer the next `times` requests (to `operation`) with 429, `Retry-After` if given."""
        with self._lock:
            self._faults.append(
                _Fault("ratelimit", times, operation, 429, retry_after=retry_after, policy=policy)
            )

    def fail_next(self, status: int = 502, times: int = 1, *, operation: str | None = None) -> None:
        """Answer the next `times` requests (to `operation`) with an HTML `status` page."""
        with self._lock:
            self._faults.append(_Fault("fail", times, operation, status))

    def fail_after_next(
        self, status: int = 504, times: int = 1, *, operation: str | None = None
    ) -> None:
        """Handle the next `times` requests (to `operation`), then answer an HTML `status` page."""
        with self._lock:
            self._faults.append(_Fault("fail_after", times, operation, status))

    def delay_next(self, seconds: float, times: int = 1, *, operation: str | None = None) -> None:
        """Hold the next `times` requests (to `operation`) `seconds`, then handle them."""
        with self._lock:
            self._faults.append(_Fault("delay", times, operation, delay_s=seconds))

    def seen(self, operation: str | None = None) -> list[RequestSeen]:
        """The requests received (for `operation`, if given), oldest first."""
        with self._lock:
            return [r for r in self.requests if operation is None or r.operation == operation]

    def count(self, operation: str | None = None) -> int:
        """How many requests were received (for `operation`, if given)."""
        return len(self.seen(operation))

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        """The stored contact with this email, as the API shows it."""
        with self._lock:
            for record in self.contacts.values():
                if record.properties.get("email", "").lower() == email.lower():
                    return record.public()
        return None

    def companies_with_domain(self, domain: str) -> list[dict[str, Any]]:
        """Every stored company with this domain (HubSpot allows several; we want one)."""
        with self._lock:
            return [
                r.public()
                for r in self.companies.values()
                if r.properties.get("domain", "").lower() == domain.lower()
            ]

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """Ids of `to_type` records associated with the record, in the order they were put."""
        with self._lock:
            return [
                to_id
                for (f_type, f_id, t_type, to_id) in self.associations
                if (f_type, f_id, t_type) == (from_type, from_id, to_type)
            ]

    def notes_of(self, contact_id: str) -> list[dict[str, Any]]:
        """The notes associated with a contact."""
        ids = self.associated("contacts", contact_id, "notes")
        with self._lock:
            return [self.notes[i].public() for i in ids]

    def tasks_of(self, contact_id: str) -> list[dict[str, Any]]:
        """The tasks associated with a contact."""
        ids = self.associated("contacts", contact_id, "tasks")
        with self._lock:
            return [self.tasks[i].public() for i in ids]

    # The application

    def _next_fault(self, operation: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.operation in (None, operation):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def handle(request: Request, path: str) -> Response:
            method = request.method
            url_path = "/" + path
            operation, params = "unknown", {}
            for name, verb, pattern in _ROUTES:
                found = pattern.match(url_path)
                if found and verb == method:
                    operation, params = name, found.groupdict()
                    break
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = "<invalid json>"
            query: dict[str, list[str]] = {}
            for key, value in request.query_params.multi_items():
                query.setdefault(key, []).append(value)
            seen = RequestSeen(operation, method, url_path, query, body, time.monotonic())
            with self._lock:
                self.requests.append(seen)
            fault = self._next_fault(operation)
            if fault is not None and fault.kind == "delay":
                await asyncio.sleep(fault.delay_s)
                fault = None
            response = self._respond(fault, operation, request, params, body)
            seen.status = response.status_code
            return response

        return app

    def _respond(
        self,
        fault: _Fault | None,
        operation: str,
        request: Request,
        params: dict[str, str],
        body: Any,
    ) -> Response:
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.token}":
            return _error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        if fault is not None and fault.kind == "ratelimit":
            response = _error(
                429,
                "RATE_LIMITS",
                f"You have reached your {fault.policy.lower()} limit.",
                errorType="RATE_LIMIT",
                policyName=fault.policy,
            )
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            return response
        if fault is not None and fault.kind == "fail":
            return _html_error(fault.status)
        if body == "<invalid json>":
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON on line 1")
        handler = getattr(self, "_" + operation.replace(".", "_"), None)
        if handler is None:
            return _error(404, "OBJECT_NOT_FOUND", f"Unable to route {request.method} request")
        with self._lock:
            # Repeated parameters (`properties=a&properties=b`) read as HubSpot does: `a,b`.
            query = {
                key: ",".join(request.query_params.getlist(key)) for key in request.query_params
            }
            response = handler(params, query, body or {})
        if fault is not None and fault.kind == "fail_after":
            return _html_error(fault.status)
        return response

    # Handlers, called with the lock held

    def _new(self, table: dict[str, _Record], properties: dict[str, Any]) -> _Record:
        record_id = str(next(self._ids))
        now = _now()
        props = _props(properties)
        props.update(hs_object_id=record_id, createdate=now, lastmodifieddate=now)
        if table is self.companies:
            props["hs_lastmodifieddate"] = now
        record = _Record(record_id, props, now, now)
        table[record_id] = record
        return record

    def _touch(self, record: _Record) -> None:
        now = _now()
        record.updated_at = record.properties["lastmodifieddate"] = now
        if "hs_lastmodifieddate" in record.properties:
            record.properties["hs_lastmodifieddate"] = now

    def _contact_by_email(self, email: str) -> _Record | None:
        for record in self.contacts.values():
            if record.properties.get("email", "").lower() == email.lower():
                return record
        return None

    def _contacts_upsert(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return _error(400, "VALIDATION_ERROR", "inputs must not be empty")
        started = _now()
        results = []
        for item in inputs:
            if item.get("idProperty") != "email" or not item.get("id"):
                return _error(
                    400,
                    "VALIDATION_ERROR",
                    "Upsert requires idProperty to be a unique property, e.g. email",
                )
            email = str(item["id"]).strip().lower()
            props = _props(item.get("properties"))
            if (bad := self._bad_owner(props)) is not None:
                return bad
            record = self._contact_by_email(email)
            new = record is None
            if record is None:
                record = self._new(self.contacts, {**props, "email": email})
            else:
                record.properties.update(props)
                record.updated_at = record.properties["lastmodifieddate"] = _now()
            results.append({**record.public(), "new": new})
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": _now()}
        )

    def _read(
        self, table: dict[str, _Record], object_id: str, query: dict[str, str], kind: str
    ) -> Any:
        record = table.get(object_id)
        if record is not None and record.extra.get("archived"):
            record = None
        if query.get("idProperty") == "email":
            record = self._contact_by_email(object_id)
        if record is None:
            return _error(
                404, "OBJECT_NOT_FOUND", f"Object not found.  objectId are usually numeric ({kind})"
            )
        wanted = query.get("properties")
        return JSONResponse(record.public(wanted.split(",") if wanted else None))

    def _contacts_get(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._read(self.contacts, params["id"], query, "contact")

    def _companies_get(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._read(self.companies, params["id"], query, "company")

    def _bad_owner(self, props: dict[str, str]) -> JSONResponse | None:
        owner = props.get("hubspot_owner_id")
        if owner and owner not in {o["id"] for o in self.owners if not o["archived"]}:
            return _error(
                400,
                "VALIDATION_ERROR",
                f'Property values were not valid: [{{"isValid":false,"message":"{owner} is not '
                f'a valid owner id","error":"INVALID_OWNER_ID","name":"hubspot_owner_id"}}]',
            )
        return None

    def _contacts_update(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        record = self.contacts.get(params["id"])
        if record is None:
            return _error(
                404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric"
            )
        props = _props(body.get("properties"))
        if (bad := self._bad_owner(props)) is not None:
            return bad
        record.properties.update(props)
        record.updated_at = record.properties["lastmodifieddate"] = _now()
        return JSONResponse(record.public())

    def _companies_search(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        groups = body.get("filterGroups") or []
        wanted = body.get("properties") or None
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
        if limit > 200:
            return _error(400, "VALIDATION_ERROR", "limit must be at most 200")
        if after + limit > self.search_cap:
            return _error(
                400, "VALIDATION_ERROR", f"Search results are limited to {self.search_cap:,}"
            )

        def matches(record: _Record) -> bool:
            if not groups:
                return True
            return any(
                all(_passes(record.properties.get(f.get("propertyName"), ""), f) for f in filters)
                for group in groups
                if (filters := group.get("filters") or [])
            )

        found = []
        for record in self.companies.values():
            if record.extra.get("archived"):
                continue
            if record.hidden_searches > 0:
                record.hidden_searches -= 1
                continue
            if matches(record):
                found.append(record)
        for sort in reversed(body.get("sorts") or []):
            name = sort.get("propertyName", "") if isinstance(sort, dict) else str(sort)
            found.sort(
                key=lambda r, n=name: _comparable(r.properties.get(n, "")),
                reverse=isinstance(sort, dict) and sort.get("direction") == "DESCENDING",
            )
        page = [record.public(wanted) for record in found[after : after + limit]]
        answer: dict[str, Any] = {"total": len(found), "results": page}
        if after + limit < len(found):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return JSONResponse(answer)

    def _companies_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        limit = min(int(query.get("limit") or 10), 100)
        after = query.get("after") or ""
        wanted = query.get("properties")
        archived = query.get("archived", "false") == "true"
        records = sorted(
            (r for r in self.companies.values() if bool(r.extra.get("archived")) == archived),
            key=lambda r: int(r.id),
        )
        records = [r for r in records if not after or int(r.id) > int(after)]
        page = records[:limit]
        answer: dict[str, Any] = {
            "results": [r.public(wanted.split(",") if wanted else None) for r in page]
        }
        if len(records) > limit:
            answer["paging"] = {"next": {"after": page[-1].id, "link": ""}}
        return JSONResponse(answer)

    def _companies_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        props = _props(body.get("properties"))
        domain = props.get("domain", "").lower()
        if domain:
            for record in self.companies.values():
                if record.properties.get("domain", "").lower() == domain:
                    return _error(
                        409,
                        "CONFLICT",
                        f"Company already exists. Existing ID: {record.id}",
                    )
        if (bad := self._bad_owner(props)) is not None:
            return bad
        record = self._new(self.companies, props)
        record.hidden_searches = self.search_lag
        return JSONResponse(record.public(), status_code=201)

    def _associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> int:
        type_id = DEFAULT_TYPES.get((from_type, to_type), 0)
        self.associations.setdefault((from_type, from_id, to_type, to_id), type_id)
        back = DEFAULT_TYPES.get((to_type, from_type), 0)
        self.associations.setdefault((to_type, to_id, from_type, from_id), back)
        return type_id

    def _table(self, object_type: str) -> dict[str, _Record] | None:
        return {
            "contacts": self.contacts,
            "companies": self.companies,
            "notes": self.notes,
            "tasks": self.tasks,
        }.get(object_type)

    def _associations_default(
        self, params: dict[str, str], query: dict[str, str], body: Any
    ) -> Any:
        from_type = _OBJECT_TYPES.get(params["from_type"], "")
        to_type = _OBJECT_TYPES.get(params["to_type"], "")
        from_table, to_table = self._table(from_type), self._table(to_type)
        if from_table is None or to_table is None:
            return _error(400, "VALIDATION_ERROR", "Unknown object type")
        if params["from_id"] not in from_table or params["to_id"] not in to_table:
            return _error(404, "OBJECT_NOT_FOUND", "One or more objects were not found")
        started = _now()
        self._associate(from_type, params["from_id"], to_type, params["to_id"])
        if (from_type, to_type) == ("contacts", "companies"):
            # The first company becomes the primary one, as HubSpot shows it on the contact.
            contact = self.contacts[params["from_id"]]
            contact.properties.setdefault("associatedcompanyid", params["to_id"])
        spec = {"associationCategory": "HUBSPOT_DEFINED"}
        results = [
            {
                "from": {"id": params["from_id"]},
                "to": {"id": params["to_id"]},
                "associationSpec": {
                    **spec,
                    "associationTypeId": DEFAULT_TYPES.get((from_type, to_type), 0),
                },
            },
            {
                "from": {"id": params["to_id"]},
                "to": {"id": params["from_id"]},
                "associationSpec": {
                    **spec,
                    "associationTypeId": DEFAULT_TYPES.get((to_type, from_type), 0),
                },
            },
        ]
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": _now()}
        )

    def _associations_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        from_type = _OBJECT_TYPES.get(params["from_type"], "")
        to_type = _OBJECT_TYPES.get(params["to_type"], "")
        ids = [
            (to_id, type_id)
            for (f_type, f_id, t_type, to_id), type_id in self.associations.items()
            if (f_type, f_id, t_type) == (from_type, params["from_id"], to_type)
        ]
        start = int(query.get("after") or 0)
        limit = int(query.get("limit") or 500)
        page = ids[start : start + limit]
        answer: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(to_id),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                    ],
                }
                for to_id, type_id in page
            ]
        }
        if start + limit < len(ids):
            answer["paging"] = {"next": {"after": str(start + limit), "link": None}}
        return JSONResponse(answer)

    def _engagement_create(
        self, table: dict[str, _Record], object_type: str, body: Any
    ) -> JSONResponse:
        props = _props(body.get("properties"))
        if not props.get("hs_timestamp"):
            return _error(
                400,
                "VALIDATION_ERROR",
                'Property values were not valid: [{"isValid":false,"message":"hs_timestamp is '
                'required","error":"REQUIRED_FIELD","name":"hs_timestamp"}]',
            )
        if (bad := self._bad_owner(props)) is not None:
            return bad
        targets = []
        for association in body.get("associations") or []:
            to_id = str((association.get("to") or {}).get("id", ""))
            types = association.get("types") or []
            type_ids = {t.get("associationTypeId") for t in types}
            target = next(
                (t for (f, t), i in DEFAULT_TYPES.items() if f == object_type and i in type_ids),
                None,
            )
            table_to = self._table(target) if target else None
            if target is None or table_to is None or to_id not in table_to:
                return _error(
                    400, "VALIDATION_ERROR", f"Invalid association to {to_id}: {type_ids}"
                )
            targets.append((target, to_id))
        record = self._new(table, props)
        for target, to_id in targets:
            self._associate(object_type, record.id, target, to_id)
        return JSONResponse(record.public(), status_code=201)

    def _notes_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._engagement_create(self.notes, "notes", body)

    def _tasks_create(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._engagement_create(self.tasks, "tasks", body)

    def _batch_read(self, table: dict[str, _Record], body: Any) -> JSONResponse:
        started = _now()
        wanted = body.get("properties") or None
        results = [
            table[str(item.get("id"))].public(wanted)
            for item in body.get("inputs") or []
            if str(item.get("id")) in table
        ]
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": _now()}
        )

    def _notes_read(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._batch_read(self.notes, body)

    def _tasks_read(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        return self._batch_read(self.tasks, body)

    def _owners_list(self, params: dict[str, str], query: dict[str, str], body: Any) -> Any:
        archived = query.get("archived", "false").lower() == "true"
        owners = [o for o in self.owners if o["archived"] == archived]
        email = query.get("email")
        if email:
            owners = [o for o in owners if o["email"].lower() == email.lower()]
        start = int(query.get("after") or 0)
        limit = int(query.get("limit") or 100)
        answer: dict[str, Any] = {"results": owners[start : start + limit]}
        if start + limit < len(owners):
            answer["paging"] = {"next": {"after": str(start + limit), "link": None}}
        return JSONResponse(answer)


def _comparable(value: str) -> tuple[int, float, str]:
    """A property value as search compares it: a number or a datetime (epoch ms), else text."""
    try:
        return (0, float(value), "")
    except ValueError:
        pass
    try:
        return (0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000, "")
    except ValueError:
        return (1, 0.0, value.lower())


def _passes(value: str, search_filter: dict[str, Any]) -> bool:
    operator = search_filter.get("operator")
    given = str(search_filter.get("value", ""))
    if operator == "EQ":
        return value.lower() == given.lower()
    if operator not in ("GT", "GTE", "LT", "LTE") or value == "":
        return False
    left, right = _comparable(value), _comparable(given)
    return {
        "GT": left > right,
        "GTE": left >= right,
        "LT": left < right,
        "LTE": left <= right,
    }[operator]


def _html_error(status: int) -> HTMLResponse:
    return HTMLResponse(
        f"<html><body><h1>{status} Server Error</h1></body></html>", status_code=status
    )


@contextlib.contextmanager
def running_hubspot(
    *,
    token: str = TOKEN,
    owners: list[dict[str, Any]] | None = None,
    search_lag: int = 0,
    search_cap: int = 10_000,
) -> Iterator[tuple[str, FakeHubSpot]]:
    """Serve a FakeHubSpot on 127.0.0.1 (a free port) in a thread; yield `(base_url, fake)`."""
    fake = FakeHubSpot(token=token, owners=owners, search_lag=search_lag, search_cap=search_cap)
    with serving(fake.app) as url:
        fake.base_url = url
        yield url, fake
