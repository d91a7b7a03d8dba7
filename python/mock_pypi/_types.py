"""The shapes of what the control API answers, for type checkers and IDEs. Every
result is the JSON the API sends (plain ``dict``s at run time); keys a row may lack
are marked as such (``total=False``)."""

from __future__ import annotations

from typing import Any, List, Literal, Optional, TypedDict

#: The trusted-publishing providers PyPI knows.
Provider = Literal["github", "gitlab", "google", "activestate", "buildkite", "circleci", "semaphore"]
#: Providers of PyPI's open pull requests, served with ``Server(preview=[...])``.
PreviewProvider = Literal["buildkite", "circleci", "semaphore"]

#: The index's faultable routes (``add_fault``'s ``route``).
FaultRoute = Literal[
    "audience", "mint-token", "legacy-mint-token", "burn-token", "upload", "simple-index",
    "simple-project", "json-api", "file", "issuer-token", "issuer-jwks",
]


class _PublisherBase(TypedDict):
    id: int
    provider: Provider
    project: str
    pending: bool
    created_at: int


class Publisher(_PublisherBase, total=False):
    """A trusted publisher with Warehouse's field names for its provider (GitHub's
    ``repository_owner``, ``repository_name``, ``workflow_filename``, ``environment``;
    GitLab's ``namespace``, ``project``, ``workflow_filepath``; …)."""

    expires_at: int
    repository_owner: str
    repository_owner_id: str
    repository_name: str
    workflow_filename: str
    environment: str
    namespace: str
    workflow_filepath: str
    issuer_url: str
    email: str
    sub: str
    organization: str
    activestate_project_name: str
    actor: str
    actor_id: str
    # Preview providers (PyPI's open pull requests).
    organization_slug: str
    pipeline_slug: str
    branch: str
    tag: str
    step_key: str
    organization_id: str
    pipeline_id: str
    org_id: str
    project_id: str
    pipeline_definition_id: str
    context_id: str
    vcs_ref: str
    vcs_origin: str
    project_name: str
    repo_slug: str


class Step(TypedDict):
    """One verification step: what was checked and what was found."""

    step: str
    ok: bool
    detail: str


class Verdict(TypedDict, total=False):
    claim: str
    ok: bool
    actual: Any
    expected: Any
    rule: str


class Candidate(TypedDict, total=False):
    publisher_id: int
    project: str
    summary: str
    selected: bool
    verdicts: List[Verdict]


class ExchangeDetail(TypedDict, total=False):
    header: dict[str, Any]
    claims: dict[str, Any]
    key: dict[str, Any]
    steps: List[Step]
    candidates: List[Candidate]


class _ExchangeBase(TypedDict):
    id: int
    created_at: int
    #: ``accepted``, or PyPI's error code (``invalid-publisher``, …).
    outcome: str
    description: str


ProvenanceStatus = Literal[
    "no-provenance", "full-provenance", "partial-provenance", "inconsistent-provenance",
    "lost-provenance", "changed-provenance",
]


class ProvenanceSource(TypedDict):
    """A publisher behind attestations: ``kind`` (GitHub, GitLab, Google), ``source``
    (repository or service account) and ``workflow``."""

    kind: str
    source: str
    workflow: str


class ReleaseProvenance(TypedDict):
    """One release's provenance status and its reasons."""

    version: str
    status: ProvenanceStatus
    explanation: str
    files: int
    attested: int
    sources: List[ProvenanceSource]
    previous: Optional[str]
    added: List[ProvenanceSource]
    removed: List[ProvenanceSource]


class Burn(TypedDict):
    """One ``POST /_/oidc/burn-token`` and what it did (PyPI's 202 never says)."""

    id: int
    created_at: int
    token_id: Optional[str]
    outcome: Literal["burned", "already-burned", "not-trusted-publishing", "unknown-token"]
    explanation: str


class Exchange(_ExchangeBase, total=False):
    """One token exchange from the audit log; :meth:`Server.exchange` adds what its
    token did afterwards (``token``, ``uploads``, ``burns``)."""

    issuer: Optional[str]
    provider: Optional[str]
    publisher_id: Optional[int]
    project: Optional[str]
    token_id: Optional[str]
    token_expires: Optional[int]
    detail: ExchangeDetail
    token: Optional[dict[str, Any]]
    uploads: List[dict[str, Any]]
    burns: List[dict[str, Any]]


class _FaultBase(TypedDict):
    id: int
    route: FaultRoute
    when: dict[str, Any]
    seen: int
    fired: int
    armed_at: int


class Fault(_FaultBase, total=False):
    """An armed fault: its definition as given (``match``, ``times``, the action's
    fields such as ``status`` or ``delay_ms``) and its counters."""

    match: dict[str, Any]
    times: int
    scenario: str
    status: int
    style: Literal["pypi", "cdn"]
    body: str
    content_type: str
    retry_after: int
    delay_ms: int
    drip_bytes_per_second: int
    close: str
    after_bytes: int
    token_lifetime: int
    omit_expires: bool
    stored_then_status: int
    stale_seconds: int
    reusable_workflow: str


class Faults(TypedDict):
    faults: List[Fault]
    #: Requests per route since the last clear.
    requests: dict[str, int]


class FaultEvent(TypedDict):
    id: int
    created_at: int
    fault_id: int
    scenario: Optional[str]
    route: str
    method: str
    path: str
    action: dict[str, Any]
    project: Optional[str]
    filename: Optional[str]


class Scenario(TypedDict):
    """A named failure scenario: what it does and what a well-behaved client does."""

    name: str
    what: str
    expected: str
    faults: List[dict[str, Any]]
    env_flags: List[str]
    applies_to: Literal["trusted-publishing", "upload"]
    route: FaultRoute
    cause_words: List[str]


class ArmedScenario(TypedDict):
    scenario: Scenario
    armed: List[Fault]


class Project(TypedDict, total=False):
    id: int
    name: str
    normalized_name: str
    files: List[dict[str, Any]]
