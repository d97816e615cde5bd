"""A small Microsoft Graph for the tests: no tenant is reachable here, so the Entra
provider is tested against this server, over HTTPS on loopback, and only through HTTP —
msal signs in at its token endpoint (the authority URL points here), the provider reads
and writes through its Graph endpoints.

It does what the provider uses, as Microsoft documents it:
- sign-in: /{tenant}/v2.0/.well-known/openid-configuration and the client credentials
  grant at /{tenant}/oauth2/v2.0/token, with a secret or a certificate
  (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow,
  /entra/identity-platform/certificate-credentials, /entra/identity-platform/v2-protocols-oidc);
- users and groups: list with $select, $filter, $top, $count and paging by
  @odata.nextLink, create, update, delete (learn.microsoft.com/graph/api/user-list,
  /graph/api/user-post-users, /graph/api/user-update, /graph/api/user-delete,
  /graph/api/group-list, /graph/api/group-post-groups, /graph/query-parameters,
  /graph/filter-query-parameter, /graph/paging, /graph/aad-advanced-queries);
- members and managers by $ref, members@odata.bind up to 20 in one request
  (/graph/api/group-post-members, /graph/api/group-delete-members,
  /graph/api/group-update, /graph/api/user-post-manager, /graph/api/user-delete-manager);
- directory extensions extension_{appId}_{name} (/graph/extensibility-overview);
- deleted items and restore (/graph/api/resources/directory,
  /graph/api/directory-deleteditems-restore);
- delta queries and their tokens (/graph/delta-query-overview, /graph/delta-query-users,
  /graph/api/user-delta, /graph/api/group-delta);
- $batch (/graph/json-batching), errors in Graph's shape (/graph/errors), throttling
  with 429 and Retry-After at a configured rate (/graph/throttling,
  /graph/throttling-limits: 3,000 writes per 150 s per app and tenant).

Each test gets a tenant of its own on one server per session (`graph`, `graph_tenant`).
"""

from .client import GraphServer, Tenant

__all__ = ["GraphServer", "Tenant"]
