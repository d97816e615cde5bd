"""Microsoft Graph's answers, request by request: who may do what, throttling, the
errors in Graph's shape, and $batch.

Pages: learn.microsoft.com/graph/errors (the error object: code, message, innerError with
date and request-id; 401, 403 Authorization_RequestDenied, 404 Request_ResourceNotFound,
429, 503, 504), /graph/throttling (429 with Retry-After; requests of a $batch throttled
one by one), /graph/json-batching (up to 20 requests, responses in any order, `dependsOn`
and 424 Failed Dependency), /graph/api/user-update (204), /graph/api/user-delete,
/graph/api/group-post-members and /graph/api/group-delete-members ($ref),
/graph/api/group-list-members (an OData cast, `/members/microsoft.graph.user`: users alone),
/graph/api/user-post-manager (PUT manager/$ref), /graph/api/directory-deleteditems-list,
/graph/api/directory-deleteditems-get, /graph/api/directory-deleteditems-restore,
/graph/permissions-reference (User.ReadWrite.All, Group.ReadWrite.All, …).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import queries
from .directory import Obj, Tenant
from .resources import GROUP, KINDS, USER, GraphFault, Kind, bad, not_found

READ = {
    "user": {
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    },
    "group": {
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    },
}
WRITE = {
    "user": {"User.ReadWrite.All", "Directory.ReadWrite.All"},
    "group": {"Group.ReadWrite.All", "Directory.ReadWrite.All"},
    "members": {"Group.ReadWrite.All", "GroupMember.ReadWrite.All", "Directory.ReadWrite.All"},
}


@dataclass
class Request:
    method: str
    path: str  # below /v1.0, without a leading slash
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any = None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_body(fault: GraphFault, request_id: str) -> Obj:
    body: Obj = {
        "code": fault.code,
        "message": fault.message,
        "innerError": {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": request_id,
        },
    }
    if fault.target:
        body["details"] = [
            {"code": "InvalidValue", "message": fault.message, "target": fault.target}
        ]
    return {"error": body}


def split_url(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    path = path.removeprefix("v1.0/")
    return path, dict(parse_qsl(parts.query, keep_blank_values=True))


class Graph:
    """Answers requests for one tenant, as the app whose token came with them."""

    def __init__(self, tenant: Tenant, base: str, claims: dict[str, Any]) -> None:
        self.tenant, self.base = tenant, base
        self.app = str(claims.get("appid"))
        self.roles = set(claims.get("roles") or [])

    def answer(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            with self.tenant.lock:
                if request.path == "$batch" and request.method == "POST":
                    self._fault(request)
                    return self.batch(request)
                self.tenant.count(f"{request.method} requests")
                self._fault(request)
                self._throttle(request)
                found = self.route(request)
                if request.method != "GET" and found.status < 400:
                    self.tenant.wrote()
                if found.status < 400:
                    self._fault(request, after=True)
                found.headers.setdefault("request-id", request_id)
                return found
        except GraphFault as fault:
            headers = {"request-id": request_id, **fault.headers}
            return Response(fault.status, error_body(fault, request_id), headers)

    def _fault(self, request: Request, *, after: bool = False) -> None:
        for fault in self.tenant.faults:
            hit = request.path.lower().startswith(fault.path.lower().lstrip("/"))
            if fault.after != after:
                continue
            if fault.times > 0 and fault.method in (request.method, "*") and hit:
                fault.times -= 1
                self.tenant.count("faults")
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                raise GraphFault(fault.status, fault.code, fault.message, headers=headers)

    def _throttle(self, request: Request) -> None:
        tenant = self.tenant
        cost = 1
        if request.method == "GET":
            if request.path == "users":
                cost = 2
            elif request.path.endswith(("/members", "/members/microsoft.graph.user")):
                cost = 3
            if "$select" in request.query:
                cost = max(1, cost - 1)
            if "$expand" in request.query:
                cost += 1
        for bucket, scope, why, taken in (
            (tenant.writes, "Write", "WriteLimitExceeded", request.method != "GET"),
            (tenant.requests, "ReadWrite", "ResourceUnitLimitExceeded", True),
        ):
            if bucket is None or not taken:
                continue
            wait = bucket.take(cost if scope == "ReadWrite" else 1)
            if wait is not None:
                tenant.count("throttled")
                raise GraphFault(
                    429,
                    "TooManyRequests",
                    "Too many requests. Please retry after the time given by Retry-After.",
                    headers={
                        "Retry-After": str(int(wait)),
                        "x-ms-throttle-scope": f"Tenant_Application/{scope}/{self.app}/{tenant.id}",
                        "x-ms-throttle-information": why,
                    },
                )

    def need(self, roles: set[str]) -> None:
        if not self.roles & roles:
            raise GraphFault(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )

    # Routing.

    def route(self, request: Request) -> Response:
        parts = request.path.replace("microsoft.graph.delta", "delta").split("/")
        method, query, body = request.method, request.query, request.body
        if parts[0] in KINDS:
            kind = KINDS[parts[0]]
            if len(parts) == 1:
                if method == "GET":
                    self.need(READ[kind.name])
                    objects = list(self.tenant.objects[kind.name].values())
                    return self._ok(
                        queries.listing(
                            self.tenant, self.base, parts[0], kind, objects, query, request.headers
                        )
                    )
                if method == "POST":
                    self.need(WRITE[kind.name])
                    created = self.tenant.create(kind, self._body(body))
                    shown = queries.render(self.tenant, kind, created, list(kind.default_select))
                    return Response(
                        201,
                        {
                            "@odata.context": f"{self.base}/v1.0/$metadata#"
                            f"{kind.collection}/$entity",
                            **shown,
                        },
                    )
            if len(parts) == 2 and parts[1] == "delta" and method == "GET":
                self.need(READ[kind.name])
                return self._ok(queries.delta(self.tenant, self.base, parts[0], query))
            if len(parts) >= 2:
                return self._object(request, kind, parts[1], parts[2:])
        if parts[:2] == ["directory", "deletedItems"]:
            return self._deleted(request, parts[2:])
        raise GraphFault(400, "BadRequest", f"Resource not found for the segment '{parts[0]}'.")

    def _object(self, request: Request, kind: Kind, key: str, rest: list[str]) -> Response:
        method, tenant = request.method, self.tenant
        self.need(READ[kind.name])
        obj = tenant.find(kind, key)
        if not rest:
            if method == "GET":
                select = queries.select_of(tenant, kind, request.query.get("$select"))
                return self._ok(queries.render(tenant, kind, obj, select))
            if method == "PATCH":
                self.need(
                    WRITE[kind.name]
                    | (
                        WRITE["members"]
                        if kind is GROUP and set(self._body(request.body)) == {"members@odata.bind"}
                        else set()
                    )
                )
                tenant.update(kind, obj, self._body(request.body))
                return Response(204)
            if method == "DELETE":
                self.need(WRITE[kind.name])
                tenant.delete(kind, obj)
                return Response(204)
        if kind is USER and rest[0] == "manager":
            if rest == ["manager"] and method == "GET":
                boss = tenant.objects["user"].get(obj.get("_manager", ""))
                if boss is None:
                    raise not_found("manager")
                return self._ok(
                    {
                        "@odata.type": "#microsoft.graph.user",
                        **queries.render(tenant, USER, boss, list(USER.default_select)),
                    }
                )
            if rest == ["manager", "$ref"] and method in ("PUT", "DELETE"):
                self.need(WRITE["user"])
                target = self._ref(request.body) if method == "PUT" else None
                tenant.set_manager(obj, target)
                return Response(204)
        if kind is GROUP and rest[0] == "members":
            if rest == ["members"] and method == "GET":
                path = f"groups/{obj['id']}/members"
                return self._ok(
                    queries.members(tenant, self.base, path, obj, request.query, request.headers)
                )
            if rest == ["members", "microsoft.graph.user"] and method == "GET":
                path = f"groups/{obj['id']}/members/microsoft.graph.user"  # an OData cast
                return self._ok(
                    queries.members(
                        tenant,
                        self.base,
                        path,
                        obj,
                        request.query,
                        request.headers,
                        users_only=True,
                    )
                )
            if rest == ["members", "$ref"] and method == "POST":
                self.need(WRITE["members"])
                tenant.add_member(obj, self._ref(request.body))
                return Response(204)
            if len(rest) == 3 and rest[2] == "$ref" and method == "DELETE":
                self.need(WRITE["members"])
                tenant.remove_member(obj, rest[1])
                return Response(204)
        raise GraphFault(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )

    def _deleted(self, request: Request, rest: list[str]) -> Response:
        tenant, method = self.tenant, request.method
        if len(rest) == 1 and rest[0].startswith("microsoft.graph.") and method == "GET":
            name = rest[0].removeprefix("microsoft.graph.")
            kind = USER if name == "user" else GROUP
            self.need(READ[kind.name])
            objects = [obj for k, obj in tenant.deleted.values() if k == kind.name]
            path = f"directory/deletedItems/{rest[0]}"
            return self._ok(
                queries.listing(
                    tenant, self.base, path, kind, objects, request.query, request.headers
                )
            )
        if not rest or rest[0] not in tenant.deleted:
            raise not_found(rest[0] if rest else "deletedItems")
        kind = USER if tenant.deleted[rest[0]][0] == "user" else GROUP
        obj = tenant.deleted[rest[0]][1]
        if len(rest) == 1 and method == "GET":
            self.need(READ[kind.name])
            select = queries.select_of(tenant, kind, request.query.get("$select"))
            shown = queries.render(tenant, kind, obj, [*select, "deletedDateTime"])
            return self._ok({"@odata.type": kind.odata_type, **shown})
        if len(rest) == 1 and method == "DELETE":
            self.need(WRITE[kind.name])
            del tenant.deleted[rest[0]]
            return Response(204)
        if rest[1:] == ["restore"] and method == "POST":
            self.need(WRITE[kind.name])
            back = tenant.restore(rest[0])
            shown = queries.render(tenant, kind, back, list(kind.default_select))
            return self._ok({"@odata.type": kind.odata_type, **shown})
        raise GraphFault(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )

    @staticmethod
    def _ok(body: Obj) -> Response:
        return Response(200, body)

    @staticmethod
    def _body(body: Any) -> Obj:
        if not isinstance(body, dict):
            raise bad(
                "Write requests (excluding DELETE) must contain the Content-Type header "
                "declaration."
            )
        return body

    def _ref(self, body: Any) -> str:
        url = self._body(body).get("@odata.id")
        if not isinstance(url, str) or not url.strip("/"):
            raise bad("Invalid object identifier in @odata.id.")
        return url.rstrip("/").rsplit("/", 1)[-1]

    # $batch.

    def batch(self, request: Request) -> Response:
        body = request.body
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise bad("Invalid batch payload format.")
        if len(requests) > 20:
            raise bad("The number of requests in the batch exceeds the limit of 20.")
        ids = [str(r.get("id")) for r in requests]
        if len(set(ids)) != len(ids):
            raise bad("Batch request contains duplicate ids.")
        self.tenant.count("batches")
        done: dict[str, int] = {}
        answers: list[Obj] = []
        for given in requests:
            rid = str(given.get("id"))
            needs = [str(d) for d in given.get("dependsOn") or []]
            if any(done.get(d, 424) >= 400 for d in needs):
                fault = GraphFault(
                    424,
                    "FailedDependency",
                    "The request failed because it depended on a request that failed.",
                )
                answer = Response(424, error_body(fault, str(uuid.uuid4())))
            else:
                path, query = split_url(str(given.get("url", "")))
                headers = {k.lower(): str(v) for k, v in (given.get("headers") or {}).items()}
                sub = Request(
                    str(given.get("method", "GET")).upper(), path, query, headers, given.get("body")
                )
                answer = self.answer(sub)
            done[rid] = answer.status
            shown: Obj = {
                "id": rid,
                "status": answer.status,
                "headers": {"Content-Type": "application/json", **answer.headers},
            }
            if answer.body is not None:
                shown["body"] = answer.body
            answers.append(shown)
        # "Individual responses might appear in a different order than the requests."
        answers.reverse()
        return Response(200, {"responses": answers})
