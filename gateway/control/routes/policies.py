"""Policies: upload, check and test, activate or reject, history, diff, rollback, shadow,
replay, and the signed active bundle that gateways and OPA sidecars pull.

The work is done by `gateway.control.policy_service.PolicyService`, one per app (it holds
the shadow candidate), with `gateway.control.shadow_sweep.ShadowSweep` feeding it the
decisions gateways index (`serve_control` runs its thread); this module only maps HTTP
onto them. A rejected upload is stored
for the record and answered 422 ``policy-rejected`` with its failures; the policy in force
does not change.
"""

from __future__ import annotations

import threading
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import HTTP
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.control.access import Principal
from gateway.control.auth import current_principal
from gateway.control.context import ControlContext, json_object, read_body
from gateway.control.errors import ApiProblem
from gateway.control.policy_service import (
    ComparisonReport,
    Disagreement,
    NotReady,
    PolicyService,
    PolicyServiceError,
    UploadOutcome,
    UploadTooLarge,
    status_of,
)
from gateway.control.schemas import (
    ActivationOut,
    PolicyDiffOut,
    PolicyFilesIn,
    PolicyRevisionOut,
)
from gateway.control.shadow_sweep import ShadowSweep
from gateway.pdp.port import Decision
from gateway.store import PolicyRevisionRecord

router = APIRouter(tags=["policies"])
Who = Annotated[Principal, Depends(current_principal)]
_CREATE = threading.Lock()
_MAX_FORM_OVERHEAD = 256 * 1024


def service_of(app: FastAPI) -> PolicyService:
    """The app's one `PolicyService` (and its `ShadowSweep`), made on first use."""
    service = getattr(app.state, "policy_service", None)
    if isinstance(service, PolicyService):
        return service
    with _CREATE:
        service = getattr(app.state, "policy_service", None)
        if not isinstance(service, PolicyService):
            ctx = getattr(app.state, "control", None)
            if not isinstance(ctx, ControlContext):
                raise ApiProblem(503, "not-configured", "the control plane has no context")
            service = PolicyService(
                ctx.store, decision=ctx.config.policy.decision,
                publish_path=ctx.publish_bundle, signing_key=ctx.bundle_signing_key,
                key_id=ctx.bundle_key_id, verification_key=ctx.verification_key,
                decision_log=ctx.config.policy.decision_log,
                zone_prefixes={z.name: z.prefix for z in ctx.config.zones})
            app.state.shadow_sweep = ShadowSweep(service)
            app.state.policy_service = service
    return service


def shadow_sweep_of(app: FastAPI) -> ShadowSweep:
    """The app's `ShadowSweep` (its thread is started by `serve_control`)."""
    service_of(app)
    sweep: ShadowSweep = app.state.shadow_sweep
    return sweep


def policy_service(request: Request) -> PolicyService:
    """FastAPI dependency: the app's one `PolicyService`."""
    return service_of(request.app)


Service = Annotated[PolicyService, Depends(policy_service)]
Limit = Annotated[int, Query(ge=1, le=1000, description="how many recent decisions")]


# --- bodies ------------------------------------------------------------------------------


class PolicyStatusOut(PolicyRevisionOut):
    status: str = Field(description="active | accepted | rejected")


class UploadOut(BaseModel):
    revision: PolicyStatusOut
    failures: list[str]


class ShadowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: str = Field(min_length=1, max_length=128)


class DecisionBrief(BaseModel):
    allow: bool
    reasons: list[str]


class DisagreementOut(BaseModel):
    kind: str
    decision_id: str
    detail: str
    input_source: str
    active: DecisionBrief | None
    shadow: DecisionBrief | None
    at: datetime


class ShadowOut(BaseModel):
    revision: str | None
    active_revision: str | None
    set_by: str | None
    set_at: datetime | None
    compared: int
    disagreements: list[DisagreementOut]


class ComparisonOut(BaseModel):
    revision: str
    against: str
    total: int
    from_log: int = Field(description="decisions whose full input came from the decision "
                                      "log (the others' from the decision index)")
    rebuilt: int = Field(default=0, description="decisions indexed without their input, "
                         "re-decided on one rebuilt from the index: indicative only")
    changes: list[DisagreementOut]


def _revision_out(record: PolicyRevisionRecord) -> PolicyStatusOut:
    return PolicyStatusOut.model_validate({**PolicyRevisionOut.model_validate(record)
                                           .model_dump(), "status": status_of(record)})


def _brief(decision: Decision | None) -> DecisionBrief | None:
    return None if decision is None else DecisionBrief(allow=decision.allow,
                                                       reasons=list(decision.reasons))


def _disagreement_out(d: Disagreement) -> DisagreementOut:
    return DisagreementOut(kind=d.kind, decision_id=d.decision_id, detail=d.detail,
                           input_source=d.input_source, active=_brief(d.active),
                           shadow=_brief(d.shadow), at=d.at)


def _comparison_out(report: ComparisonReport) -> ComparisonOut:
    return ComparisonOut(revision=report.revision, against=report.against, total=report.total,
                         from_log=report.from_log, rebuilt=report.rebuilt,
                         changes=[_disagreement_out(c) for c in report.changes])


def _problem(exc: PolicyServiceError) -> ApiProblem:
    if isinstance(exc, UploadTooLarge):
        return ApiProblem(413, exc.code, str(exc))
    if isinstance(exc, NotReady):
        return ApiProblem(409, exc.code, str(exc))
    return ApiProblem(422, exc.code, str(exc))


def _uploaded(outcome: UploadOutcome) -> UploadOut:
    out = UploadOut(revision=_revision_out(outcome.record), failures=list(outcome.failures))
    if outcome.status == "rejected":
        raise ApiProblem(422, "policy-rejected",
                         f"revision {outcome.record.revision} failed its checks or tests; "
                         "the policy in force is unchanged",
                         {"revision": outcome.record.revision,
                          "failures": list(outcome.failures),
                          "test_results": outcome.record.test_results})
    return out


# --- routes (static paths before /{revision}) --------------------------------------------


@router.get("/bundles/zonegate.tar.gz", response_class=Response,
            responses={200: {"content": {"application/gzip": {}}}})
def active_bundle(service: Service) -> Response:
    """The active policy as an OPA bundle, signed when the control plane has a key."""
    try:
        body = service.published_bundle()
    except PolicyServiceError as exc:
        raise ApiProblem(404, exc.code, str(exc)) from None
    return Response(body, media_type="application/gzip",
                    headers={"Cache-Control": "no-cache"})


@router.get("/api/policies", response_model=list[PolicyStatusOut])
def list_revisions(service: Service) -> list[PolicyStatusOut]:
    """Every uploaded revision, newest first, with its status."""
    return [_revision_out(r) for r in service.revisions()]


@router.get("/api/policies/active", response_model=PolicyStatusOut)
def active_revision(service: Service) -> PolicyStatusOut:
    """The revision in force (404 when none is)."""
    record = service.active()
    if record is None:
        raise ApiProblem(404, "no-active-policy", "no policy revision is active")
    return _revision_out(record)


@router.get("/api/policies/history", response_model=list[ActivationOut])
def activation_history(service: Service) -> list[ActivationOut]:
    """Activations and rollbacks, newest first."""
    return [ActivationOut.model_validate(a) for a in service.history()]


@router.post("/api/policies/bundle", response_model=UploadOut, status_code=201,
             responses={413: {}, 422: {}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/gzip": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_bundle(request: Request, service: Service, who: Who,
                        revision: Annotated[str | None, Query(max_length=128)] = None,
                        activate: bool = True) -> UploadOut:
    """Upload an OPA bundle (.tar.gz body); check, test, store, and activate if it passes."""
    body = await read_body(request, service.limits.max_archive_bytes)
    try:
        outcome = await run_in_threadpool(service.upload_archive, body, who.actor,
                                          revision=revision, activate=activate)
    except PolicyServiceError as exc:
        raise _problem(exc) from None
    return _uploaded(outcome)


@router.post("/api/policies/files", response_model=UploadOut, status_code=201,
             responses={413: {}, 415: {}, 422: {}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": PolicyFilesIn.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object"}}}}})
async def upload_files(request: Request, service: Service, who: Who) -> UploadOut:
    """Upload policy files: JSON ``{"files": {path: content}, "revision"?, "activate"?}``
    or multipart/form-data with one part per file (its filename is the path)."""
    limit = service.limits.max_total_bytes + _MAX_FORM_OVERHEAD
    body = await read_body(request, limit)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        files = _multipart_files(request.headers["content-type"], body)
        revision = request.query_params.get("revision")
        activate = request.query_params.get("activate", "true").lower() != "false"
    elif kind in ("application/json", ""):
        parsed = PolicyFilesIn.model_validate(json_object(body, "body"))
        files, revision, activate = dict(parsed.files), parsed.revision, parsed.activate
    else:
        raise ApiProblem(415, "unsupported-media-type",
                         "send application/json or multipart/form-data")
    try:
        outcome = await run_in_threadpool(service.upload_files, files, who.actor,
                                          revision=revision, activate=activate)
    except PolicyServiceError as exc:
        raise _problem(exc) from None
    return _uploaded(outcome)


def _multipart_files(content_type: str, body: bytes) -> dict[str, str | bytes]:
    # the stdlib MIME parser: no extra dependency for a handful of small text parts
    message = message_from_bytes(b"Content-Type: " + content_type.encode("latin-1")
                                 + b"\r\n\r\n" + body, policy=HTTP)
    if not message.is_multipart():
        raise ApiProblem(422, "bad-multipart", "the body is not multipart/form-data")
    files: dict[str, str | bytes] = {}
    for part in message.iter_parts():
        if not isinstance(part, Message):
            continue
        name = part.get_param("filename", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise ApiProblem(422, "bad-multipart", "every part needs a filename (its path)")
        if name in files:
            raise ApiProblem(422, "bad-multipart", f"{name} appears twice")
        payload = part.get_payload(decode=True)
        files[name] = payload if isinstance(payload, bytes) else b""
    if not files:
        raise ApiProblem(422, "bad-multipart", "no file parts in the body")
    return files


@router.post("/api/policies/rollback", response_model=PolicyStatusOut)
def rollback(service: Service, who: Who) -> PolicyStatusOut:
    """Put the revision in force before the current one back in force (409 if none)."""
    return _revision_out(service.rollback(who.actor))


@router.get("/api/policies/shadow", response_model=ShadowOut)
def shadow_state(request: Request, service: Service) -> ShadowOut:
    """The shadow candidate, how many indexed decisions it was compared on since it was
    set, and its disagreements with what the gateways enforced (last 200)."""
    shadow_sweep_of(request.app).sweep_now()
    return _shadow_out(service)


def _shadow_out(service: PolicyService) -> ShadowOut:
    state = service.shadow()
    return ShadowOut(revision=state.revision, active_revision=state.active_revision,
                     set_by=state.set_by, set_at=state.set_at, compared=state.compared,
                     disagreements=[_disagreement_out(d) for d in state.disagreements])


@router.put("/api/policies/shadow", response_model=ShadowOut)
def set_shadow(body: ShadowIn, service: Service, who: Who) -> ShadowOut:
    """Evaluate an accepted revision beside the active one; nothing it decides is enforced."""
    try:
        service.set_shadow(body.revision, who.actor)
    except PolicyServiceError as exc:
        raise _problem(exc) from None
    return _shadow_out(service)


@router.delete("/api/policies/shadow", response_model=ShadowOut)
def clear_shadow(service: Service, who: Who) -> ShadowOut:
    """Stop shadow evaluation."""
    service.clear_shadow(who.actor)
    return _shadow_out(service)


@router.get("/api/policies/shadow/report", response_model=ComparisonOut)
def shadow_report(service: Service, limit: Limit = 100) -> ComparisonOut:
    """Shadow and active policy over the last `limit` recorded decisions: disagreements."""
    try:
        return _comparison_out(service.shadow_report(limit))
    except PolicyServiceError as exc:
        raise _problem(exc) from None


@router.get("/api/policies/{revision}", response_model=PolicyStatusOut)
def get_revision(revision: str, service: Service) -> PolicyStatusOut:
    """One revision with its check and test results."""
    return _revision_out(service.get(revision))


@router.get("/api/policies/{revision}/diff", response_model=PolicyDiffOut)
def diff_revision(revision: str, service: Service,
                  against: Annotated[str | None, Query(max_length=128)] = None
                  ) -> PolicyDiffOut:
    """Unified diff per file from `against` (default: the active revision) to `revision`."""
    try:
        diff = service.diff(revision, against)
    except PolicyServiceError as exc:
        raise _problem(exc) from None
    return PolicyDiffOut(revision=diff.revision, against=diff.against, added=list(diff.added),
                         removed=list(diff.removed), changed=diff.changed)


@router.post("/api/policies/{revision}/activate", response_model=PolicyStatusOut)
def activate_revision(revision: str, service: Service, who: Who) -> PolicyStatusOut:
    """Put an accepted revision in force (409 for a rejected or already active one)."""
    return _revision_out(service.activate(revision, who.actor))


@router.get("/api/policies/{revision}/replay", response_model=ComparisonOut)
def replay_revision(revision: str, service: Service, limit: Limit = 100) -> ComparisonOut:
    """Re-decide the last `limit` recorded decisions with `revision`: what would change."""
    try:
        return _comparison_out(service.replay(revision, limit))
    except PolicyServiceError as exc:
        raise _problem(exc) from None
