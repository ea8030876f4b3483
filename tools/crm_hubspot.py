"""HubSpot as the CRM: the production backend of the `CRM` port (DESIGN §4).

Speaks HubSpot's CRM API through the official `hubspot-api-client` (v12), against
`https://api.hubapi.com` or `HUBSPOT_API_URL` for a local endpoint, with a private app's access
token sent as `Authorization: Bearer`:

- companies: `POST /crm/v3/objects/companies/search` (domain `EQ`) to find one;
  `POST /crm/v3/objects/companies` to create one on a miss; `GET /crm/v3/objects/companies/{id}`.
- contacts: `GET /crm/v3/objects/contacts/{email}?idProperty=email`, or by id (`get_contact`,
  for the webhook's events);
  `POST /crm/v3/objects/contacts/batch/upsert` with `idProperty=email` (one contact per email
  however often it runs); `PATCH /crm/v3/objects/contacts/{id}` for `hubspot_owner_id`.
- `PUT /crm/v4/objects/contacts/{id}/associations/default/companies/{id}`: the default
  contact → company association (a repeat changes nothing).
- notes and tasks: `POST /crm/v3/objects/{notes|tasks}` with `hs_timestamp` and the contact
  association in the same request; `GET /crm/v4/objects/contacts/{id}/associations/{notes|
  tasks}` and `POST /crm/v3/objects/{notes|tasks}/batch/read` to find one already written.
- `GET /crm/v3/owners/`: the account's owners (`ping`, `list_owners`, owner checks).

Exactly once. The graph stores a receipt after each write (`once()`), and each write here is
itself keyed, so a crash between the write and its receipt leaves one record: contacts are
upserted by email; a company is searched by domain first, and a create that answers 409
CONFLICT (the search index lags behind writes) reads the existing company named in the error
instead of creating a second; associations are PUT. A note (and its task) carries its key as
a last line, `Lead Router ref: <key>`, and is created together with its association to the
contact; before creating, the contact's associated notes are read and one ending in that line
is returned instead. We chose the key in the body over a custom property (no property to
create in the account, no extra scope) and the association read over a search (search lags
behind writes by seconds, associations do not).

Tasks: the decision note (key ending in `task_on`, `:note` by default — the key notify writes)
also gets a task for the contact's owner carrying the same summary, keyed `<key>:task`.

Limits and retries. A client-side limiter keeps every call within `requests_per_10s`
(100 per 10 s by default, the lowest tier's) and searches within `searches_per_s` (4). By
default these are token buckets in this process; given `limiters` (the wiring passes Redis
windows when REDIS_URL is set), every worker draws from one budget. The SDK's own urllib3
retries are off; tenacity retries here instead:

- 429 is retried for every call (HubSpot did not process it), waiting what `Retry-After` says
  (up to `max_retry_after_s`), else backing off; a `DAILY` policy is not retried.
- 5xx, 408, read timeouts and dropped connections are retried only for idempotent calls:
  reads, searches, upserts by `idProperty`, PATCH and PUT. A create (company, note, task) is
  not retried inside the tool: the node's retry runs the keyed lookup first.
- A connection that never opened is retried for every call (nothing was sent).

Each SDK package raises its own `ApiException` class; all of them are caught by status. What
still fails is raised as `HubSpotError` with the status and HubSpot's category and message.

Shadow mode (`shadow=True`): reads happen (search, contact and owner reads), writes do not.
Each write returns a receipt with `"shadow": true` and what it would have sent, so the lead's
decision record shows what HubSpot would have received.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
import urllib3.exceptions
from hubspot import HubSpot
from hubspot.crm import companies as hs_companies
from hubspot.crm import contacts as hs_contacts
from hubspot.crm import owners as hs_owners
from hubspot.crm.associations import v4 as hs_associations
from hubspot.crm.objects import notes as hs_notes
from hubspot.crm.objects import tasks as hs_tasks
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from domain.config import Rep
from tools.hubspot_accounts import SyncTooLarge
from tools.ratelimit import Limiter, window_bucket
from tools.retry import give_up, log_retry, retry_after_seconds

if TYPE_CHECKING:
    from tools.ports import CRM, ContactReader

log = structlog.get_logger("lead_router.hubspot")

T = TypeVar("T")

# One ApiException class per SDK package; every call below raises one of these.
API_ERRORS: tuple[type[Exception], ...] = tuple(
    package.ApiException
    for package in (hs_contacts, hs_companies, hs_associations, hs_notes, hs_tasks, hs_owners)
)
_FAILURES: tuple[type[BaseException], ...] = (
    *API_ERRORS,
    urllib3.exceptions.HTTPError,
    TimeoutError,
)
# The request may have reached HubSpot: retried only when the call is idempotent.
_MAYBE_SENT = (
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
    TimeoutError,
)
# The connection never opened: nothing was sent, any call may be retried.
_NOT_SENT = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)

# HubSpot-defined association type ids (v4): note → contact, task → contact.
NOTE_TO_CONTACT = 202
TASK_TO_CONTACT = 204
REF_PREFIX = "Lead Router ref: "


@dataclass(frozen=True)
class _Engagement:
    """Notes and tasks: the SDK package, object type, body property, association to a contact."""

    package: Any
    name: str
    body: str
    to_contact: int


_NOTES = _Engagement(hs_notes, "notes", "hs_note_body", NOTE_TO_CONTACT)
_TASKS = _Engagement(hs_tasks, "tasks", "hs_task_body", TASK_TO_CONTACT)
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")

# Our contact fields → HubSpot's default contact properties. Fields not listed (lead_id,
# lead_score …) are not sent unless `custom_properties` names a property for them: a property
# that does not exist in the account fails the whole upsert.
CONTACT_PROPERTIES = {
    "first_name": "firstname",
    "last_name": "lastname",
    "job_title": "jobtitle",
    "phone": "phone",
    "country": "country",
    "company": "company",
}
# Our company fields → HubSpot's. `industry` is an enumeration in HubSpot; free text fails it.
COMPANY_PROPERTIES = {
    "name": "name",
    "employees": "numberofemployees",
    "country": "country",
    "city": "city",
}
_COMPANY_READ = ["domain", "name", "hubspot_owner_id", "industry", "numberofemployees"]
_COMPANY_READ += ["country", "city", "hs_parent_company_id"]
# What an account sync reads of each company (DESIGN §6's columns, in HubSpot's names).
COMPANY_SYNC = [*_COMPANY_READ, "website", "state", "hs_lastmodifieddate"]
SEARCH_PAGE = 200  # the most one search page holds
SEARCH_CAP = 10_000  # the most results one search query pages through
_CONTACT_READ = ["email", "firstname", "lastname", "hubspot_owner_id", "associatedcompanyid"]


class HubSpotError(RuntimeError):
    """A HubSpot call failed for good: `status` (0 without an answer), `category`, `message`."""

    def __init__(self, operation: str, status: int, category: str, message: str) -> None:
        self.operation = operation
        self.status = status
        self.category = category
        self.message = message
        super().__init__(f"HubSpot {operation} failed: HTTP {status} {category}: {message}"[:500])


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None) if isinstance(exc, API_ERRORS) else None
    return status if isinstance(status, int) else None


def _body(exc: BaseException) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    try:
        parsed = json.loads(raw) if raw else None
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _header(exc: BaseException, name: str) -> str | None:
    headers = getattr(exc, "headers", None)
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    status = _status(exc)
    if status is not None:
        body = _body(exc)
        what = body.get("category") or body.get("policyName") or getattr(exc, "reason", "")
        return f"HTTP {status} {what}"
    return f"{type(exc).__name__}: {exc}"[:300]


def _hubspot_error(operation: str, exc: BaseException) -> HubSpotError:
    status = _status(exc)
    if status is None:
        return HubSpotError(operation, 0, type(exc).__name__, str(exc)[:300])
    body = _body(exc)
    category = str(body.get("category") or body.get("errorType") or getattr(exc, "reason", ""))
    message = str(body.get("message") or getattr(exc, "reason", "") or "")
    return HubSpotError(operation, status, category, message)


def _millis(value: datetime | str | None) -> int:
    """Milliseconds since the epoch of a datetime or HubSpot's ISO timestamp (0 when absent)."""
    if value is None or value == "":
        return 0
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return 0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _iso(when: datetime) -> str:
    """A UTC time as HubSpot writes it (`hs_timestamp`): ISO 8601, milliseconds, `Z`."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _html(body: str, key: str) -> str:
    """The note body as HubSpot's rich text, ending in the key line."""
    lines = [html.escape(line) for line in body.splitlines()]
    return "<p>" + "<br>".join(lines) + f"</p><p>{html.escape(REF_PREFIX + key)}</p>"


def _has_key(text: str | None, key: str) -> bool:
    return bool(text) and html.escape(REF_PREFIX + key) in str(text)


def _employees(value: Any) -> str | None:
    try:
        return str(int(float(value)))
    except (TypeError, ValueError):
        return None


def owner_mismatches(
    reps: Iterable[Rep], owners: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each rep whose `crm_owner_id` is missing, not an active HubSpot owner, or an owner with
    another email: `{"rep", "email", "crm_owner_id", "problem"}` (and `hubspot_email`)."""
    by_id = {str(owner["id"]): owner for owner in owners}
    found: list[dict[str, Any]] = []
    for rep in reps:
        entry: dict[str, Any] = {
            "rep": rep.id,
            "email": rep.email,
            "crm_owner_id": rep.crm_owner_id,
        }
        if not rep.crm_owner_id:
            found.append({**entry, "problem": "no crm_owner_id in routing.yaml"})
            continue
        owner = by_id.get(str(rep.crm_owner_id))
        if owner is None:
            found.append({**entry, "problem": "not an active HubSpot owner id"})
            continue
        hubspot_email = str(owner.get("email") or "")
        if hubspot_email.strip().lower() != rep.email.strip().lower():
            found.append(
                {
                    **entry,
                    "hubspot_email": hubspot_email,
                    "problem": f"HubSpot owner {rep.crm_owner_id} is {hubspot_email or 'no one'}",
                }
            )
    return found


class HubSpotCRM:
    """`CRM` on HubSpot through `hubspot-api-client`; see the module docstring.

    `token` is the private app's access token; `base_url` the API root (default HubSpot's).
    `owners` maps a rep's email to their HubSpot owner id (`crm_owner_id` in routing.yaml).
    `shadow` reads but never writes. `timeout_s` bounds each HTTP attempt; `max_attempts`,
    `backoff_s` and `max_backoff_s` shape retries; a 429 asking to wait longer than
    `max_retry_after_s` is not retried. `custom_properties` maps more contact fields (e.g.
    `lead_score`) to properties you created in HubSpot. `limiters` (all requests, searches)
    replace the per-process token buckets, e.g. with `RedisWindow`s shared by every worker.
    `sleep` (retry waits), `limiter_clock` and `limiter_sleep` (the buckets') are for tests.
    """

    def __init__(
        self,
        token: SecretStr,
        *,
        base_url: str | None = None,
        owners: Mapping[str, str] | None = None,
        shadow: bool = False,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_retry_after_s: float = 60.0,
        requests_per_10s: int = 100,
        searches_per_s: int = 4,
        custom_properties: Mapping[str, str] | None = None,
        task_on: tuple[str, ...] = (":note",),
        task_due: timedelta = timedelta(hours=1),
        limiters: tuple[Limiter, Limiter] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        limiter_clock: Callable[[], float] = time.monotonic,
        limiter_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        secret = token.get_secret_value().strip()
        if not secret:
            raise ValueError("HUBSPOT_ACCESS_TOKEN is empty: set it to a private app's token")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.base_url = (base_url or "https://api.hubapi.com").rstrip("/")
        self.shadow = shadow
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.task_on = task_on
        self.task_due = task_due
        self._owner_ids = {
            email.strip().lower(): str(owner_id) for email, owner_id in (owners or {}).items()
        }
        self._owner_emails = {owner_id: email for email, owner_id in self._owner_ids.items()}
        self._contact_fields = {**CONTACT_PROPERTIES, **(custom_properties or {})}
        self._sleep = sleep
        self._requests: Limiter
        self._searches: Limiter
        if limiters is not None:
            self._requests, self._searches = limiters
        else:
            self._requests = window_bucket(
                requests_per_10s, 10.0, clock=limiter_clock, sleep=limiter_sleep
            )
            self._searches = window_bucket(
                searches_per_s, 1.0, clock=limiter_clock, sleep=limiter_sleep
            )
        # Companies this process found or created, by domain: the search index lags behind a
        # create, and the contact's association needs the id right after.
        self._company_ids: OrderedDict[str, str] = OrderedDict()
        # urllib3 retries off (retries=False): tenacity below decides what is retried.
        client = HubSpot(access_token=secret, retry=False, host=self.base_url)
        crm = client.crm
        self._contacts = crm.contacts.basic_api
        self._contacts_batch = crm.contacts.batch_api
        self._companies = crm.companies.basic_api
        self._companies_search = crm.companies.search_api
        self._associations = crm.associations.v4.basic_api
        self._notes = crm.objects.notes.basic_api
        self._notes_batch = crm.objects.notes.batch_api
        self._tasks = crm.objects.tasks.basic_api
        self._tasks_batch = crm.objects.tasks.batch_api
        self._owners = crm.owners.owners_api

    def __repr__(self) -> str:
        return f"HubSpotCRM({self.base_url!r}, shadow={self.shadow})"

    # Calls

    def _retryable(self, exc: BaseException, idempotent: bool) -> bool:
        status = _status(exc)
        if status == 429:
            if str(_body(exc).get("policyName", "")).upper() == "DAILY":
                return False
            wait = retry_after_seconds(_header(exc, "Retry-After"))
            return wait is None or wait <= self.max_retry_after_s
        if status is not None:
            return idempotent and (status >= 500 or status == 408)
        if isinstance(exc, _NOT_SENT):
            return True
        return idempotent and isinstance(exc, _MAYBE_SENT)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and _status(exc) == 429:
            asked = retry_after_seconds(_header(exc, "Retry-After"))
            if asked is not None:
                return float(asked)
        # No Retry-After (HubSpot's ten-second and secondly limits send none on some APIs):
        # back off exponentially, capped.
        return min(self.max_backoff_s, self.backoff_s * 2.0 ** (state.attempt_number - 1))

    async def _call(
        self,
        operation: str,
        func: Callable[[], T],
        *,
        idempotent: bool,
        search: bool = False,
        attempts: int | None = None,
    ) -> T:
        """Run one SDK call in a thread, within the rate limits, retried as described above."""
        retrying = AsyncRetrying(
            stop=give_up(stop_after_attempt(attempts or self.max_attempts), backend="hubspot"),
            retry=retry_if_exception(lambda exc: self._retryable(exc, idempotent)),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=log_retry(
                log, "hubspot call retried", _describe, backend="hubspot", operation=operation
            ),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if search:
                        await self._searches.acquire()
                    await self._requests.acquire()
                    return await asyncio.to_thread(func)
        except _FAILURES as exc:
            raise _hubspot_error(operation, exc) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _remember_company(self, domain: str, company_id: str) -> None:
        self._company_ids[domain] = company_id
        self._company_ids.move_to_end(domain)
        while len(self._company_ids) > 10_000:
            self._company_ids.popitem(last=False)

    # CRM port: reads

    async def ping(self) -> None:
        """Check the token and the account with one owners read (no retries)."""
        await self._call(
            "owners.list",
            lambda: self._owners.get_page(limit=1, _request_timeout=self.timeout_s),
            idempotent=True,
            attempts=1,
        )

    async def find_contact(self, email: str) -> dict[str, Any] | None:
        """The contact with this email (read by `idProperty=email`, no search lag), or None."""
        key = email.strip().lower()
        try:
            found = await self._call(
                "contacts.get",
                lambda: self._contacts.get_by_id(
                    key,
                    id_property="email",
                    properties=_CONTACT_READ,
                    _request_timeout=self.timeout_s,
                ),
                idempotent=True,
            )
        except HubSpotError as exc:
            if exc.status == 404:
                return None
            raise
        props = dict(found.properties or {})
        owner_id = props.get("hubspot_owner_id") or None
        return {
            "id": str(found.id),
            "email": props.get("email") or key,
            "owner_email": self._owner_emails.get(owner_id) if owner_id else None,
            "hubspot_owner_id": owner_id,
            "company_id": props.get("associatedcompanyid") or None,
            "properties": props,
        }

    async def get_contact(
        self, contact_id: str, properties: Sequence[str]
    ) -> dict[str, Any] | None:
        """The contact with this HubSpot id and the `properties` asked for, or None (404).

        `GET /crm/v3/objects/contacts/{id}?properties=...`: a read, retried like the others.
        """
        try:
            found = await self._call(
                "contacts.get",
                lambda: self._contacts.get_by_id(
                    contact_id,
                    properties=list(properties),
                    _request_timeout=self.timeout_s,
                ),
                idempotent=True,
            )
        except HubSpotError as exc:
            if exc.status == 404:
                return None
            raise
        return {"id": str(found.id), "properties": dict(found.properties or {})}

    async def find_company_by_domain(self, domain: str) -> dict[str, Any] | None:
        """The company whose `domain` is this one (CRM search, which lags behind writes)."""
        key = domain.strip().lower()
        request = hs_companies.PublicObjectSearchRequest(
            filter_groups=[
                hs_companies.FilterGroup(
                    filters=[hs_companies.Filter(property_name="domain", operator="EQ", value=key)]
                )
            ],
            properties=_COMPANY_READ,
            limit=2,
        )
        found = await self._call(
            "companies.search",
            lambda: self._companies_search.do_search(request, _request_timeout=self.timeout_s),
            idempotent=True,
            search=True,
        )
        if not found.results:
            return None
        # The oldest when HubSpot holds duplicates: the one people have worked on.
        company = min(found.results, key=lambda c: int(c.id) if str(c.id).isdigit() else 0)
        self._remember_company(key, str(company.id))
        return self._company(company, key)

    def _company(self, company: Any, domain: str) -> dict[str, Any]:
        props = dict(company.properties or {})
        owner_id = props.get("hubspot_owner_id") or None
        return {
            "id": str(company.id),
            "domain": (props.get("domain") or domain).lower(),
            "name": props.get("name"),
            "owner_email": self._owner_emails.get(owner_id) if owner_id else None,
            "hubspot_owner_id": owner_id,
            "parent_id": props.get("hs_parent_company_id") or None,
            "properties": {
                "industry": props.get("industry") or None,
                "employees": _employees(props.get("numberofemployees")),
                "country": props.get("country") or None,
                "city": props.get("city") or None,
            },
        }

    async def _paged(
        self, operation: str, get_page: Callable[..., Any], **query: Any
    ) -> AsyncIterator[Any]:
        """Every result of a paged read (`limit` 100, following `paging.next.after`)."""
        after: str | None = None
        while True:
            page = await self._call(
                operation,
                partial(get_page, limit=100, after=after, _request_timeout=self.timeout_s, **query),
                idempotent=True,
            )
            for result in page.results or []:
                yield result
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return

    async def list_owners(self) -> list[dict[str, Any]]:
        """The account's active owners: `{"id", "email", "first_name", "last_name"}`."""
        return [
            {
                "id": str(o.id),
                "email": o.email,
                "first_name": o.first_name,
                "last_name": o.last_name,
            }
            async for o in self._paged("owners.list", self._owners.get_page, archived=False)
        ]

    async def companies(
        self, modified_since: datetime | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every active company as `{"id", "properties"}` (read page by page), or with
        `modified_since` those whose `hs_lastmodifieddate` is at or after it, oldest change
        first (search; it lags behind writes by seconds, so callers look back a little).

        Search stops at 10,000 results a query; past that the query starts again from the last
        change seen. `SyncTooLarge` when more than that share one millisecond.
        """
        if modified_since is None:
            listed = self._paged(
                "companies.list",
                self._companies.get_page,
                properties=COMPANY_SYNC,
                archived=False,
            )
            async for company in listed:
                yield {"id": str(company.id), "properties": dict(company.properties or {})}
            return
        since = _millis(modified_since)
        while True:
            seen = 0
            latest = since
            after: str | None = None
            while True:
                request = hs_companies.PublicObjectSearchRequest(
                    filter_groups=[
                        hs_companies.FilterGroup(
                            filters=[
                                hs_companies.Filter(
                                    property_name="hs_lastmodifieddate",
                                    operator="GTE",
                                    value=str(since),
                                )
                            ]
                        )
                    ],
                    sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                    properties=COMPANY_SYNC,
                    limit=SEARCH_PAGE,
                    after=after,
                )
                found = await self._call(
                    "companies.search",
                    partial(
                        self._companies_search.do_search, request, _request_timeout=self.timeout_s
                    ),
                    idempotent=True,
                    search=True,
                )
                for company in found.results or []:
                    properties = dict(company.properties or {})
                    latest = max(latest, _millis(properties.get("hs_lastmodifieddate")) or since)
                    seen += 1
                    yield {"id": str(company.id), "properties": properties}
                next_page = found.paging.next if found.paging else None
                after = next_page.after if next_page else None
                if not after:
                    return
                if seen + SEARCH_PAGE > SEARCH_CAP:
                    break
            if latest <= since:
                raise SyncTooLarge(
                    f"more than {SEARCH_CAP} companies changed at {modified_since.isoformat()}"
                )
            since = latest

    async def owner_mismatches(self, reps: Iterable[Rep]) -> list[dict[str, Any]]:
        """The reps whose `crm_owner_id` does not name their HubSpot owner (`owner_mismatches`)."""
        return owner_mismatches(reps, await self.list_owners())

    # CRM port: writes

    async def upsert_company(self, domain: str, properties: dict[str, Any]) -> dict[str, Any]:
        """The one company for this domain: found by search, else created; a 409 reads the
        existing company instead of creating a second. An existing company is not modified.

        Returns `{"id", "created"}` (and `conflict` after a 409).
        """
        key = domain.strip().lower()
        if not key:
            raise ValueError("a company needs a domain")
        known = self._company_ids.get(key)
        if known is not None:
            return {"id": known, "created": False}
        found = await self.find_company_by_domain(key)
        if found is not None:
            return {"id": found["id"], "created": False}
        props = {"domain": key}
        for ours, theirs in COMPANY_PROPERTIES.items():
            value = properties.get(ours)
            if ours == "employees":
                value = _employees(value)
            if value not in (None, ""):
                props[theirs] = str(value)
        if self.shadow:
            log.info("hubspot shadow: company not created", domain=key, properties=props)
            return {"id": None, "created": False, "shadow": True, "would_create": props}
        try:
            created = await self._call(
                "companies.create",
                lambda: self._companies.create(
                    hs_companies.SimplePublicObjectInputForCreate(
                        properties=props, associations=[]
                    ),
                    _request_timeout=self.timeout_s,
                ),
                idempotent=False,
            )
        except HubSpotError as exc:
            existing = _EXISTING_ID.search(exc.message) if exc.status == 409 else None
            if existing is None:
                raise
            company = await self._call(
                "companies.get",
                lambda: self._companies.get_by_id(
                    existing.group(1), properties=_COMPANY_READ, _request_timeout=self.timeout_s
                ),
                idempotent=True,
            )
            self._remember_company(key, str(company.id))
            log.info("hubspot company existed (409); using it", domain=key, id=company.id)
            return {"id": str(company.id), "created": False, "conflict": True}
        self._remember_company(key, str(created.id))
        return {"id": str(created.id), "created": True}

    async def upsert_contact(self, email: str, properties: dict[str, Any]) -> dict[str, Any]:
        """Create or update the one contact for this email (batch upsert, `idProperty=email`),
        then associate it with its company (`company_domain`) by the v4 default association.

        Returns `{"id", "created", "company_id", "associated"}`.
        """
        key = email.strip().lower()
        if "@" not in key:
            raise ValueError(f"not an email address: {email!r}")
        props = {
            theirs: str(properties[ours])
            for ours, theirs in self._contact_fields.items()
            if properties.get(ours) not in (None, "")
        }
        domain = str(properties.get("company_domain") or "").strip().lower() or None
        if self.shadow:
            existing = await self.find_contact(key)
            log.info("hubspot shadow: contact not written", email=key, properties=props)
            return {
                "id": existing["id"] if existing else None,
                "created": False,
                "shadow": True,
                "would_upsert": {"email": key, "properties": props, "company_domain": domain},
            }
        batch = hs_contacts.BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                hs_contacts.SimplePublicObjectBatchInputUpsert(
                    id=key, id_property="email", properties=props
                )
            ]
        )
        answer = await self._call(
            "contacts.upsert",
            lambda: self._contacts_batch.upsert(batch, _request_timeout=self.timeout_s),
            idempotent=True,
        )
        contact = answer.results[0]
        contact_id = str(contact.id)
        company_id = None
        if domain:
            company_id = self._company_ids.get(domain)
            if company_id is None:
                company = await self.find_company_by_domain(domain)
                company_id = company["id"] if company else None
        if company_id:
            await self._call(
                "associations.default",
                lambda: self._associations.create_default(
                    "contacts", contact_id, "companies", company_id, _request_timeout=self.timeout_s
                ),
                idempotent=True,
            )
        return {
            "id": contact_id,
            "created": bool(contact.new),
            "company_id": company_id,
            "associated": company_id is not None,
        }

    async def assign_owner(self, contact_id: str, owner_email: str) -> dict[str, Any]:
        """Set the contact's `hubspot_owner_id` to the rep's `crm_owner_id` (unchanged if it is).

        Returns `{"contact_id", "previous_owner", "owner", "hubspot_owner_id", "changed"}`; a
        rep without `crm_owner_id` is not assigned and the receipt says so (`skipped`).
        """
        owner = owner_email.strip().lower()
        owner_id = self._owner_ids.get(owner)
        receipt: dict[str, Any] = {"contact_id": contact_id, "owner": owner}
        if owner_id is None:
            log.warning("hubspot owner not set: rep has no crm_owner_id", owner=owner)
            return {**receipt, "changed": False, "skipped": f"{owner} has no crm_owner_id"}
        receipt["hubspot_owner_id"] = owner_id
        if self.shadow:
            log.info("hubspot shadow: owner not set", contact_id=contact_id, owner_id=owner_id)
            return {**receipt, "changed": False, "shadow": True}
        current = await self._owner_of(contact_id)
        previous = self._owner_emails.get(current, current) if current else None
        if current != owner_id:
            await self._call(
                "contacts.update",
                lambda: self._contacts.update(
                    contact_id,
                    hs_contacts.SimplePublicObjectInput(properties={"hubspot_owner_id": owner_id}),
                    _request_timeout=self.timeout_s,
                ),
                idempotent=True,
            )
        return {**receipt, "previous_owner": previous, "changed": current != owner_id}

    async def _owner_of(self, contact_id: str) -> str | None:
        contact = await self._call(
            "contacts.get",
            lambda: self._contacts.get_by_id(
                contact_id, properties=["hubspot_owner_id"], _request_timeout=self.timeout_s
            ),
            idempotent=True,
        )
        return (contact.properties or {}).get("hubspot_owner_id") or None

    async def add_note(self, contact_id: str, key: str, body: str) -> dict[str, Any]:
        """Attach a note once per `key` (see the module docstring); the decision note also
        gets a task for the contact's owner.

        Returns `{"id", "created"}`, and `task` with the task's `{"id", "created"}`.
        """
        if not key:
            raise ValueError("a note needs a key")
        if self.shadow:
            log.info("hubspot shadow: note not written", contact_id=contact_id, key=key)
            return {"id": None, "created": False, "shadow": True, "key": key}

        async def note() -> dict[str, str]:
            return {"hs_timestamp": _iso(datetime.now(UTC)), "hs_note_body": _html(body, key)}

        receipt = await self._engagement_once(_NOTES, contact_id, key, note)
        if key.endswith(self.task_on):
            task_key = f"{key}:task"

            async def task() -> dict[str, str]:
                owner_id = await self._owner_of(contact_id)
                first = body.splitlines()[0] if body else ""
                return {
                    "hs_timestamp": _iso(datetime.now(UTC) + self.task_due),  # the due date
                    "hs_task_subject": f"Follow up: {first}"[:250],
                    "hs_task_body": _html(body, task_key),
                    "hs_task_status": "NOT_STARTED",
                    "hs_task_priority": "HIGH",
                    "hs_task_type": "TODO",
                    **({"hubspot_owner_id": owner_id} if owner_id else {}),
                }

            receipt["task"] = await self._engagement_once(_TASKS, contact_id, task_key, task)
        return receipt

    async def _engagement_once(
        self,
        kind: _Engagement,
        contact_id: str,
        key: str,
        properties: Callable[[], Awaitable[dict[str, str]]],
    ) -> dict[str, Any]:
        """Create a note or task on the contact unless one carrying `key` is there already."""
        existing = await self._find_engagement(kind, contact_id, key)
        if existing is not None:
            return {"id": existing, "created": False}
        package = kind.package
        request = package.SimplePublicObjectInputForCreate(
            properties=await properties(),
            associations=[
                package.PublicAssociationsForObject(
                    to=package.PublicObjectId(id=contact_id),
                    types=[
                        package.AssociationSpec(
                            association_category="HUBSPOT_DEFINED",
                            association_type_id=kind.to_contact,
                        )
                    ],
                )
            ],
        )
        basic_api = self._notes if kind is _NOTES else self._tasks
        created = await self._call(
            f"{kind.name}.create",
            partial(basic_api.create, request, _request_timeout=self.timeout_s),
            idempotent=False,
        )
        return {"id": str(created.id), "created": True}

    async def _find_engagement(self, kind: _Engagement, contact_id: str, key: str) -> str | None:
        """The id of the contact's note or task whose body carries the key line, or None.

        Reads the contact's associations (not search, which lags), then their bodies.
        """
        ids: list[str] = []
        after: str | None = None
        while True:
            page = await self._call(
                "associations.list",
                partial(
                    self._associations.get_page,
                    "contacts",
                    contact_id,
                    kind.name,
                    after=after,
                    limit=500,
                    _request_timeout=self.timeout_s,
                ),
                idempotent=True,
            )
            ids += [str(item.to_object_id) for item in page.results or []]
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                break
        batch_api = self._notes_batch if kind is _NOTES else self._tasks_batch
        ids.reverse()  # newest first: a repeat is usually of the last one written
        for start in range(0, len(ids), 100):
            request = kind.package.BatchReadInputSimplePublicObjectId(
                inputs=[kind.package.SimplePublicObjectId(id=i) for i in ids[start : start + 100]],
                properties=[kind.body],
                properties_with_history=[],
            )
            answer = await self._call(
                f"{kind.name}.read",
                partial(batch_api.read, request, _request_timeout=self.timeout_s),
                idempotent=True,
            )
            for item in answer.results or []:
                if _has_key((item.properties or {}).get(kind.body), key):
                    return str(item.id)
        return None


if TYPE_CHECKING:

    def _is_crm(crm: HubSpotCRM) -> CRM:
        """mypy checks that HubSpotCRM satisfies the `CRM` port."""
        return crm

    def _reads_contacts(crm: HubSpotCRM) -> ContactReader:
        """mypy checks that HubSpotCRM satisfies the `ContactReader` port."""
        return crm
