"""SageMaker in a box, for the act run on the sagemaker backend: moto, what moto lacks, a recorder.

    python -m tests.e2e.aws_double --ready-file F --calls F --jwks-url URL --model-artifact F \
        --metrics '{"accuracy": 0.9, ...}' [--metrics ...]

One process (started and stopped by the e2e test) runs a moto server on 127.0.0.1 and, in
front of it, an HTTP proxy on 127.0.0.1 that the stages reach through AWS_ENDPOINT_URL.
Every request passes the proxy, which

* holds it to the contract (tests/aws_contract.py): the request is read back to its
  parameters and refused with the service's ValidationException when real AWS would refuse
  it (botocore's service model in full, SageMaker's documented rules), and so is an
  UpdateEndpoint that SageMaker's state forbids (an endpoint still Updating, for
  `--update-seconds` after an update; a renamed variant; a changed instance type on an
  autoscaled variant; a canary over half the new fleet).
* records it, one JSON line per call in `--calls`: the botocore service, the operation, the
  access key that signed it, the role that key belongs to (learnt from the STS answers it
  forwards) and the account the call acted in (tests/e2e/double_accounts.py), the HTTP status and the parameters (bytes as their size, the web identity
  token redacted). The IAM least-privilege tests read this file.
* checks web identity tokens as STS would: an RS256 JWT signed by a key of the issuer's JWKS
  (`--jwks-url`, the test token issuer), audience sts.amazonaws.com, not expired.
* holds the web identity exchange of each `--gated-role` (the production role) until a
  reviewer decides: it writes `<n>.waiting` in `--gate-dir` and waits for `<n>.approved` or
  `<n>.rejected` (AccessDenied), as GitHub holds a job of a protected environment until its
  required reviewer approves (act has no environments; harness.Reviewer decides).
* answers itself what moto lacks or only pretends, and forwards the rest to moto:
  - pipeline executions: moto stores them as Succeeded and runs nothing. Here a start walks
    the definition with the local backend's expression evaluator (Get, Std:Join, JsonGet,
    conditions, as SageMaker evaluates them) and "runs" each step by creating its job in moto
    from the resolved request: processing jobs (a declared property file is written with the
    next `--metrics` in Model Monitor's evaluation layout: the metric values are scripted,
    the ML itself is proven by the local-backend run), training jobs (the model artifact is a
    copy of `--model-artifact`, a real XGBoost model.tar.gz; DescribeTrainingJob adds the
    scripted SCRIPTED_TRAINING_SECONDS and BillableTimeInSeconds moto lacks), RegisterModel
    (CreateModelPackage with the resolved request), Condition and Fail.
    ListPipelineExecutionSteps answers from it. DescribeProcessingJob adds what moto leaves out:
    the job's ProcessingResources and its times, SCRIPTED_PROCESSING_SECONDS apart.
  - UpdateEndpoint (blue/green collapsed to its outcome: the endpoint serves the new config),
    monitoring schedules (Create/Describe/Update), and InvokeEndpoint, answered by the real
    model behind the endpoint (its ModelDataUrl, read from moto's S3) with the built-in XGBoost
    container's answer (the local backend's serving package).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from smgha import definition as defn
from smgha import serving_container
from smgha.backends.local.executor import pipeline_job_name
from smgha.backends.local.expressions import Evaluator, ExpressionError, lookup
from smgha.resources.selective import step_parents
from tests.aws_contract import (
    cache_key,
    contract_problems,
    expire_after_seconds,
    recordable,
    request_params,
    wire_protocol,
)
from tests.aws_shapes import service_model
from tests.e2e.double_accounts import (
    DEFAULT_ACCOUNT,
    AccountKeys,
    CrossAccountSageMaker,
    account_of_key,
    package_arn_parts,
)

AUDIENCE = "sts.amazonaws.com"
# Longest a gated role's exchange waits for the reviewer (well inside botocore's 60 s read
# timeout, so the client does not retry into a second hold).
GATE_TIMEOUT_SECONDS = 45.0
# DescribeTrainingJob's times of a job the double "ran" (it ran for no time): SCRIPTED, not
# measured. A managed spot job is billed BillableTimeInSeconds, here SPOT_BILLED_SHARE of its
# TrainingTimeInSeconds, so that build-pipeline's summary shows a saving of 70 %; a job
# without spot is billed all of it. Real SageMaker reports what the job used.
SCRIPTED_TRAINING_SECONDS = 600
SPOT_BILLED_SHARE = 0.3
# DescribeProcessingJob's ProcessingEndTime of a job the double "ran": SCRIPTED, this long after
# its ProcessingStartTime (moto's CreationTime). moto keeps neither the start time nor the
# ProcessingResources a job was created with, both in botocore's model of the answer.
SCRIPTED_PROCESSING_SECONDS = 120
# What a recorded call of an unsigned request or of the harness is attributed to.
NO_ROLE = ""

# ---- what a request is -----------------------------------------------------------------------

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# The credential scope's service name -> botocore's service name, where they differ.
_SCOPE_SERVICES = {"monitoring": "cloudwatch"}
_INVOCATIONS = re.compile(r"^/endpoints/([^/]+)/invocations$")


def s3_operation(method: str, path: str, query: dict[str, list[str]], headers: Any) -> str:
    """The S3 REST operation of a path-style request (what botocore sends to an IP endpoint)."""
    parts = [p for p in path.split("/", 2)[1:] if p]
    has_key = len(parts) == 2
    if not parts:
        return "ListBuckets"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "GET":
        if has_key:
            return "GetObject"
        if "location" in query:
            return "GetBucketLocation"
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    if method == "PUT":
        if not has_key:
            return "CreateBucket"
        if "partNumber" in query:
            return "UploadPart"
        return "CopyObject" if headers.get("x-amz-copy-source") else "PutObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        if "delete" in query:
            return "DeleteObjects"
    if method == "DELETE":
        return "DeleteObject" if has_key else "DeleteBucket"
    return f"{method} {'object' if has_key else 'bucket'}"  # unknown: the test names it


def identify(method: str, path: str, headers: Any, body: bytes) -> tuple[str, str, str]:
    """(botocore service, operation, access key id) of a request; the key is '' when unsigned."""
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    access_key, scope = (match.group(1), match.group(3)) if match else ("", "")
    service = _SCOPE_SERVICES.get(scope, scope)
    if _INVOCATIONS.match(url.path):
        return "sagemaker-runtime", "InvokeEndpoint", access_key
    target = headers.get("X-Amz-Target")
    if target:
        return service, target.rsplit(".", 1)[-1], access_key
    rpc = re.match(r"^/service/[^/]+/operation/([A-Za-z]+)$", url.path)  # smithy-rpc-v2-cbor
    if rpc:
        return service, rpc.group(1), access_key
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
    action = (form.get("Action") or query.get("Action") or [""])[0]
    if action:
        if not service:  # AssumeRoleWithWebIdentity is unsigned
            service = "sts" if form.get("Version") == ["2011-06-15"] else "unknown"
        return service, action, access_key
    if service == "s3":
        return service, s3_operation(method, url.path, query, headers), access_key
    return service or "unknown", f"{method} {url.path}", access_key


# ---- web identity tokens ----------------------------------------------------------------------


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_web_identity(token: str, jwks: dict[str, Any]) -> str:
    """'' when STS would accept `token`, else why not (its InvalidIdentityToken message)."""
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(_b64url_decode(header_b64))
        claims = json.loads(_b64url_decode(claims_b64))
    except ValueError:
        return "the web identity token is not a JWT"
    keys = {key["kid"]: key for key in jwks.get("keys", [])}
    key = keys.get(header.get("kid"))
    if header.get("alg") != "RS256" or key is None:
        return "no key of the OIDC provider signed this token"
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b64url_decode(key["e"]), "big"),
        int.from_bytes(_b64url_decode(key["n"]), "big"),
    ).public_key()
    try:
        public.verify(
            _b64url_decode(signature_b64),
            f"{header_b64}.{claims_b64}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except Exception:
        return "the token's signature is invalid"
    if claims.get("aud") != AUDIENCE:
        return f"Incorrect token audience {claims.get('aud')!r}"
    if float(claims.get("exp", 0)) < time.time():
        return "Token expired"
    return ""


# ---- the double ------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _json_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    return status, {"Content-Type": "application/x-amz-json-1.1"}, body


def refusal(protocol: str, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """A 400 error in the request's protocol, as botocore reads it back to `code`/`message`."""
    if protocol == "json":
        return _json_error(400, code, message)
    if protocol == "rest-json":
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        return 400, headers, json.dumps({"message": message}).encode()
    escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{escaped}</Message></Error>"
    xml = error if protocol == "rest-xml" else f"<ErrorResponse>{error}</ErrorResponse>"
    return 400, {"Content-Type": "text/xml"}, xml.encode()


# The error code each service answers a request it refuses with.
_VALIDATION_CODES = {
    "sts": "ValidationError",
    "cloudwatch": "ValidationError",
    "s3": "InvalidArgument",
}


class Refused(Exception):
    """A request real AWS would refuse with a ValidationException: why, one line a reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _contract(service: str, operation: str) -> bool:
    """Whether botocore models this request (the double's own paths are not AWS calls)."""
    try:
        return operation in service_model(service).operation_names
    except Exception:  # an unknown service name
        return False


def _epoch_seconds(timestamp: Any) -> float:
    """A timestamp of moto's JSON answer (epoch seconds, or its datetime's text: UTC) as epoch
    seconds."""
    if isinstance(timestamp, (int, float)):
        return float(timestamp)
    moment = datetime.fromisoformat(str(timestamp))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _json(document: Any) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(document, default=str).encode()
    return 200, {"Content-Type": "application/x-amz-json-1.1"}, body


class Double(CrossAccountSageMaker):
    def __init__(
        self,
        moto_url: str,
        jwks_url: str,
        calls_path: Path,
        model_artifact: Path,
        metrics: list[dict[str, float]],
        gate_dir: Path | None = None,
        gated_roles: frozenset[str] = frozenset(),
        update_seconds: float = 0.0,
    ) -> None:
        self.moto = urllib.parse.urlsplit(moto_url)
        self.moto_url = moto_url
        self.jwks_url = jwks_url
        self.calls_path = calls_path
        self.model_artifact = model_artifact.read_bytes()
        self.metrics = metrics
        self.gate_dir = gate_dir
        self.gated_roles = gated_roles
        self.holds = 0
        # How long an endpoint stays Updating after UpdateEndpoint (0: the update is done by
        # the next DescribeEndpoint, which keeps the runs fast); endpoint name -> until when.
        self.update_seconds = update_seconds
        # Keyed by (account, endpoint name): each account has endpoints of its own.
        self.updating: dict[tuple[str, str], float] = {}
        # Endpoints being deleted: (account, name) -> (until when, their last description).
        self.deleting: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self.failed_updates: dict[tuple[str, str], str] = {}  # -> why its update rolled back
        self.lock = threading.Lock()
        self.roles: dict[str, str] = {}  # access key id -> role ARN
        self.executions: dict[str, dict[str, Any]] = {}  # execution ARN -> status, steps, ...
        # Step caching: (pipeline, step) -> the successful runs of the step with caching on.
        # (account, pipeline, step) -> the successful runs of the step with caching on.
        self.step_cache: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        self.clock = time.time  # when a step runs, for ExpireAfter (a test moves it on)
        self.tokens: dict[tuple[str, str], str] = {}  # (account, ClientRequestToken) -> ARN
        self.schedules: dict[tuple[str, str], dict[str, Any]] = {}  # (account, name) ->
        self.group_policies: dict[str, str] = {}  # model package group ARN -> ResourcePolicy
        self.models: dict[str, Any] = {}  # "<ModelDataUrl> <Environment JSON>" -> loaded Model
        self.processing_resources: dict[str, Any] = {}  # ProcessingJobArn -> its request's
        self.builds = 0
        # Beside the calls log, in the test's own temporary folder: pytest removes it, where
        # a folder of /tmp would outlive the double (it is stopped by a signal).
        self.scratch = Path(tempfile.mkdtemp(prefix="aws-double-", dir=calls_path.parent))
        # The double's own clients: of the default (tooling) account, and of any other one
        # whose state it must read or change (double_accounts.AccountKeys).
        self.keys = AccountKeys(moto_url)
        self.sagemaker = self.keys.client("sagemaker", DEFAULT_ACCOUNT)
        self.s3 = self.keys.client("s3", DEFAULT_ACCOUNT)  # moto finds a bucket of any account

    # -- the request path ---------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        service, operation, access_key = identify(method, path, headers, body)
        region = _region(headers)
        handler = getattr(self, f"_{service.replace('-', '_')}_{operation}", None)
        answer = _json_error(500, "DoubleError", "the double failed")
        params: dict[str, Any] = {}
        refused: list[str] = []
        try:
            if _contract(service, operation):
                # The contract: what the real service would refuse is refused here too.
                params = request_params(service, operation, method, path, headers, body)
                problems = contract_problems(service, operation, params)
                if problems:
                    raise Refused(problems)
            if handler is not None:
                answer = handler(body, headers, region, path)
            else:
                answer = self.forward(method, path, headers, body)
            if service == "sts" and answer[0] == 200:
                self._learn_role(answer[2])
            return answer
        except Refused as error:
            refused = error.problems
            code = _VALIDATION_CODES.get(service, "ValidationException")
            answer = refusal(wire_protocol(service, headers), code, str(error))
            return answer
        finally:  # a call that broke the double is recorded too (status 500)
            self.record(service, operation, access_key, answer[0], params, refused)

    def forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        assert self.moto.hostname is not None, f"no host in {self.moto_url}"
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=60)
        try:
            sent = {
                k: v
                for k, v in headers.items()
                if k.lower() not in ("expect", "transfer-encoding", "connection", "content-length")
            }
            sent["Content-Length"] = str(len(body))
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length", "date")
            }
            return response.status, kept, data
        finally:
            connection.close()

    def record(
        self,
        service: str,
        operation: str,
        access_key: str,
        status: int,
        params: dict[str, Any],
        refused: list[str],
    ) -> None:
        line = {
            "service": service,
            "operation": operation,
            "access_key": access_key,
            "role": self.roles.get(access_key, NO_ROLE),
            "account": account_of_key(access_key),  # the signer's account (moto's mapping)
            "status": status,
            "time": time.time(),
            "params": recordable(params),
            "refused": refused,  # why the contract refused it, if it did
        }
        with self.lock, self.calls_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def _learn_role(self, body: bytes) -> None:
        """Remember which role an access key STS handed out belongs to."""
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return
        key = next((e.text for e in root.iter() if e.tag.endswith("AccessKeyId")), None)
        arn = next((e.text for e in root.iter() if e.tag.endswith("}Arn")), None)
        if key and arn:
            # arn:aws:sts::<account>:assumed-role/<role>/<session> -> the role's ARN
            match = re.match(r"arn:aws:sts::(\d+):assumed-role/([^/]+)/", arn)
            role = f"arn:aws:iam::{match.group(1)}:role/{match.group(2)}" if match else arn
            with self.lock:
                self.roles[key] = role

    # -- STS ----------------------------------------------------------------------------------

    def _sts_AssumeRoleWithWebIdentity(  # noqa: N802 (named after the operation)
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        form = urllib.parse.parse_qs(body.decode())
        token = (form.get("WebIdentityToken") or [""])[0]
        with urllib.request.urlopen(self.jwks_url, timeout=10) as response:  # the test issuer
            jwks = json.load(response)
        problem = check_web_identity(token, jwks)
        if problem:
            xml = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                f"<Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>{problem}</Message>"
                "</Error><RequestId>double</RequestId></ErrorResponse>"
            )
            return 400, {"Content-Type": "text/xml"}, xml.encode()
        role = (form.get("RoleArn") or [""])[0]
        if role in self.gated_roles and not self._approved(role):
            xml = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                "<Type>Sender</Type><Code>AccessDenied</Code><Message>the protected "
                "environment's reviewer did not approve this job</Message>"
                "</Error><RequestId>double</RequestId></ErrorResponse>"
            )
            return 403, {"Content-Type": "text/xml"}, xml.encode()
        return self.forward("POST", path, headers, body)

    def _approved(self, role: str) -> bool:
        """Wait (bounded) for the reviewer's decision on a gated role's exchange."""
        assert self.gate_dir is not None
        with self.lock:
            self.holds += 1
            name = self.gate_dir / f"{self.holds:04d}"
        name.with_suffix(".tmp").write_text(json.dumps({"role": role, "since": time.time()}))
        name.with_suffix(".tmp").rename(name.with_suffix(".waiting"))
        deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if name.with_suffix(".approved").exists():
                return True
            if name.with_suffix(".rejected").exists():
                return False
            time.sleep(0.1)
        return False

    # -- pipelines ----------------------------------------------------------------------------

    def _sagemaker_StartPipelineExecution(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        account, _ = self.caller(headers)
        token = (account, request.get("ClientRequestToken", ""))
        with self.lock:
            if token[1] and token in self.tokens:  # the same token, the same execution
                return _json({"PipelineExecutionArn": self.tokens[token]})
        sagemaker = self.keys.client("sagemaker", account, region)
        try:
            pipeline = sagemaker.describe_pipeline(PipelineName=request["PipelineName"])
        except sagemaker.exceptions.ClientError:  # no such pipeline: moto answers why
            return self.forward("POST", path, headers, body)
        definition = json.loads(pipeline["PipelineDefinition"])
        if "SelectiveExecutionConfig" in request:
            problems = self._selection_problems(request["SelectiveExecutionConfig"], definition)
            if problems:
                raise Refused(problems)
        status, extra, answer = self.forward("POST", path, headers, body)
        if status != 200:
            return status, extra, answer
        arn = json.loads(answer)["PipelineExecutionArn"]
        execution = self.run_pipeline(arn, definition, request, region)
        with self.lock:
            self.executions[arn] = execution
            if token[1]:
                self.tokens[token] = arn
        return status, extra, answer

    def _selection_problems(self, config: dict[str, Any], definition: dict[str, Any]) -> list[str]:
        """Why SageMaker refuses this SelectiveExecutionConfig (SageMaker Developer Guide,
        "Selective execution of pipeline steps": the selected steps are connected in the DAG
        and include every step on a path between two of them; the source is a Succeeded or
        Failed execution of the pipeline. Stricter reading, not confirmed: the steps the
        selected ones read from must have succeeded in the source)."""
        steps = defn.steps_by_name(definition)
        selected = {item["StepName"] for item in config["SelectedSteps"]}
        unknown = sorted(selected - set(steps))
        if unknown:
            return [f"SelectedSteps {unknown} are not steps of the pipeline"]
        after = {name: self._downstream(steps, name) for name in steps}
        problems = [
            f"SelectedSteps leave out {name}, which is on a path between two selected steps"
            for name in steps
            if name not in selected
            and any(name in after[a] for a in selected)
            and any(b in after[name] for b in selected)
        ]
        linked = {a: {b for b in selected if b in after[a] or a in after[b]} for a in selected}
        reached, todo = set(), [min(selected)]
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo += linked[name]
        if reached != selected:
            problems.append(f"SelectedSteps {sorted(selected)} are not connected in the DAG")
        read = set().union(*(step_parents(steps, n) for n in selected)) - selected
        source = self.executions.get(config.get("SourcePipelineExecutionArn", ""))
        if read and source is None:
            problems.append(
                f"the selected steps read from {sorted(read)}: SourcePipelineExecutionArn must "
                "name an execution of this pipeline"
            )
        elif source is not None:
            if source["status"] not in ("Succeeded", "Failed"):
                problems.append(f"the source execution is {source['status']}, not Succeeded/Failed")
            ran = {r["StepName"] for r in source["steps"] if r["StepStatus"] == "Succeeded"}
            if read - ran:
                problems.append(f"steps {sorted(read - ran)} did not succeed in the source")
        return problems

    @staticmethod
    def _downstream(steps: dict[str, dict[str, Any]], start: str) -> set[str]:
        """Every step reachable from `start` in the DAG (not `start` itself)."""
        found: set[str] = set()
        grew = True
        while grew:
            grew = False
            for name in steps:
                if name not in found and step_parents(steps, name) & (found | {start}):
                    found.add(name)
                    grew = True
        return found

    def _sagemaker_ListPipelineExecutions(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        """moto lists every execution as Succeeded, oldest first: here with the statuses the
        walk gave them, newest first unless SortOrder is Ascending (SageMaker's default is
        CreationTime, Descending)."""
        status, extra, answer = self.forward("POST", path, headers, body)
        if status != 200:
            return status, extra, answer
        summaries = json.loads(answer)["PipelineExecutionSummaries"]
        for summary in summaries:
            walked = self.executions.get(summary["PipelineExecutionArn"])
            if walked is not None:
                summary["PipelineExecutionStatus"] = walked["status"]
        if json.loads(body).get("SortOrder") != "Ascending":
            summaries.reverse()
        return _json({"PipelineExecutionSummaries": summaries})

    def _sagemaker_DescribePipelineExecution(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        status, extra, answer = self.forward("POST", path, headers, body)
        execution = self.executions.get(json.loads(body)["PipelineExecutionArn"])
        if status != 200 or execution is None:
            return status, extra, answer
        document = json.loads(answer)
        document["PipelineExecutionStatus"] = execution["status"]
        document["FailureReason"] = execution.get("failure", "")
        return _json(document)

    def _sagemaker_DescribeTrainingJob(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        """moto's answer with the job's (scripted) training and billable seconds, which moto
        leaves out: SCRIPTED_TRAINING_SECONDS, billed whole or, with spot, SPOT_BILLED_SHARE
        of it."""
        status, extra, answer = self.forward("POST", path, headers, body)
        if status != 200:
            return status, extra, answer
        document = json.loads(answer)
        document["TrainingTimeInSeconds"] = SCRIPTED_TRAINING_SECONDS
        share = SPOT_BILLED_SHARE if document.get("EnableManagedSpotTraining") is True else 1.0
        document["BillableTimeInSeconds"] = round(SCRIPTED_TRAINING_SECONDS * share)
        return _json(document)

    def _sagemaker_CreateProcessingJob(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        """moto's answer; the job's ProcessingResources kept for DescribeProcessingJob."""
        status, extra, answer = self.forward("POST", path, headers, body)
        if status == 200:
            arn = json.loads(answer)["ProcessingJobArn"]
            with self.lock:
                self.processing_resources[arn] = json.loads(body)["ProcessingResources"]
        return status, extra, answer

    def _sagemaker_DescribeProcessingJob(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        """moto's answer with what moto leaves out: the ProcessingResources the job was created
        with, and its (scripted) times: started at its CreationTime, completed
        SCRIPTED_PROCESSING_SECONDS later. Timestamps as the JSON protocol sends them: epoch
        seconds."""
        status, extra, answer = self.forward("POST", path, headers, body)
        if status != 200:
            return status, extra, answer
        document = json.loads(answer)
        resources = self.processing_resources.get(document["ProcessingJobArn"])
        if resources is not None:
            document["ProcessingResources"] = resources
        started = _epoch_seconds(document["CreationTime"])
        document["ProcessingStartTime"] = started
        document["ProcessingEndTime"] = started + SCRIPTED_PROCESSING_SECONDS
        return _json(document)

    def _sagemaker_ListPipelineExecutionSteps(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        arn = json.loads(body)["PipelineExecutionArn"]
        execution = self.executions.get(arn)
        if execution is None:
            return _json_error(400, "ResourceNotFound", f"Pipeline execution {arn} not found")
        # Newest first, as SageMaker lists them by default.
        return _json({"PipelineExecutionSteps": list(reversed(execution["steps"]))})

    def run_pipeline(
        self, arn: str, definition: dict[str, Any], request: dict[str, Any], region: str
    ) -> dict[str, Any]:
        """Walk the definition as SageMaker would, creating each step's job in moto. A step
        a selective execution did not select takes the source execution's outputs (or, when
        downstream of a selected step, does not run); a cached step whose key matches an
        earlier run takes that run's (_cache_hit)."""
        with self.lock:
            metrics = self.metrics[min(self.builds, len(self.metrics) - 1)]
            self.builds += 1
        execution_id = arn.rsplit("/", 1)[-1]
        steps = defn.steps_by_name(definition)
        properties: dict[str, dict[str, Any]] = {}
        given = {p["Name"]: p["Value"] for p in request.get("PipelineParameters") or []}
        evaluator = Evaluator(
            parameters=defn.parameter_values(definition, given),
            execution={
                "PipelineExecutionId": execution_id,
                "PipelineExecutionArn": arn,
                "PipelineName": request["PipelineName"],
            },
            step_properties=properties,
            read_property_file=lambda step, name: self._property_file(
                steps, properties, step, name
            ),
        )
        selection = request.get("SelectiveExecutionConfig")
        selected = {i["StepName"] for i in selection["SelectedSteps"]} if selection else None
        records: list[dict[str, Any]] = []
        activated = [step["Name"] for step in definition["Steps"]]
        done: set[str] = set()
        ran: set[str] = set()  # the selected steps and those left out after them
        status = "Succeeded"
        failure = ""
        for name in activated:  # a condition appends its branch's steps while this runs
            if status != "Succeeded":
                break
            step = steps[name]
            missing = defn.step_needs(step) - done
            assert not missing, f"{name} runs before {missing} (the definition is in order)"
            done.add(name)
            if selected is not None and name not in selected:
                if step_parents(steps, name) & ran:  # downstream of a selected step: not run
                    ran.add(name)
                    continue
                assert selection is not None
                try:
                    records.append(self._reused(selection, step, properties, activated))
                except RuntimeError as error:  # a Failed source that lacks this step's outputs
                    status, failure = "Failed", str(error)
                continue
            ran.add(name)
            record: dict[str, Any] = {
                "StepName": name,
                "StepStatus": "Succeeded",
                "StartTime": _now(),
            }
            try:
                record["Metadata"], source = self._run_step(
                    step, evaluator, properties, activated, arn, request["PipelineName"], metrics
                )
                if source:
                    record["CacheHitResult"] = {"SourcePipelineExecutionArn": source}
            except (ExpressionError, KeyError, RuntimeError) as error:
                record.update(StepStatus="Failed", FailureReason=str(error))
                status, failure = "Failed", "Step failure: One or multiple steps failed."
            record["EndTime"] = _now()
            records.append(record)
        return {"status": status, "failure": failure, "steps": records, "properties": properties}

    def _reused(
        self,
        selection: dict[str, Any],
        step: dict[str, Any],
        properties: dict[str, dict[str, Any]],
        activated: list[str],
    ) -> dict[str, Any]:
        """A step a selective execution did not select, upstream of the selected ones: listed
        as succeeded, with the source execution's outputs and SelectiveExecutionResult."""
        source_arn = selection["SourcePipelineExecutionArn"]
        source = self.executions[source_arn]
        name = step["Name"]
        earlier = [r for r in source["steps"] if r["StepName"] == name]
        if not earlier or earlier[-1]["StepStatus"] != "Succeeded":
            raise RuntimeError(f"step {name} did not succeed in {source_arn}: nothing to reuse")
        properties[name] = source["properties"][name]
        if step["Type"] == "Condition":
            branch = "IfSteps" if properties[name]["Outcome"] else "ElseSteps"
            activated += [s["Name"] for s in step["Arguments"].get(branch) or []]
        return {
            "StepName": name,
            "StepStatus": "Succeeded",
            "StartTime": _now(),
            "EndTime": _now(),
            "Metadata": earlier[-1].get("Metadata", {}),
            "SelectiveExecutionResult": {"SourcePipelineExecutionArn": source_arn},
        }

    def _cache_hit(
        self, account: str, pipeline: str, step: dict[str, Any], request: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The latest successful run of this step of this pipeline, within its ExpireAfter,
        whose cache key (tests/aws_contract.py, cache_key: the request's values the step runs
        with) is this one's; None when caching is off or nothing matches. SageMaker Developer
        Guide, "Caching pipeline steps" (docs.aws.amazon.com/sagemaker/latest/dg/
        pipelines-caching.html): only successful runs, the most recent one, scoped to the
        pipeline; a run of the step with caching off is no candidate (not confirmed either
        way: the stricter reading)."""
        config = step.get("CacheConfig") or {}
        if not config.get("Enabled"):
            return None
        oldest = self.clock() - (expire_after_seconds(config.get("ExpireAfter")) or 0.0)
        key = cache_key(step["Type"], request)
        runs = self.step_cache.get((account, pipeline.lower(), step["Name"]), [])
        matching = [run for run in runs if run["key"] == key and run["time"] >= oldest]
        return max(matching, key=lambda run: run["time"]) if matching else None

    def _run_step(
        self,
        step: dict[str, Any],
        evaluator: Evaluator,
        properties: dict[str, dict[str, Any]],
        activated: list[str],
        execution_arn: str,
        pipeline: str,
        metrics: dict[str, float],
    ) -> tuple[dict[str, Any], str]:
        """Run the step: its Metadata, and the execution whose run it reused ('' if none)."""
        name, kind = step["Name"], step["Type"]
        if kind == "Condition":
            outcome = all(evaluator.condition(c) for c in step["Arguments"]["Conditions"])
            branch = "IfSteps" if outcome else "ElseSteps"
            activated += [s["Name"] for s in step["Arguments"].get(branch) or []]
            properties[name] = {"Outcome": outcome}
            return {"Condition": {"Outcome": str(outcome).capitalize()}}, ""
        if kind == "Fail":
            raise RuntimeError(str(evaluator.resolve(step["Arguments"].get("ErrorMessage", ""))))
        request = evaluator.resolve(step.get("Arguments") or {})
        # The pipeline's account: arn:aws:sagemaker:<region>:<account>:pipeline/...
        _, _, _, region, account = execution_arn.split(":", 5)[:5]
        hit = self._cache_hit(account, pipeline, step, request)
        if hit is not None:
            properties[name] = hit["properties"]
            return hit["metadata"], hit["execution"]
        started = self.clock()
        job = pipeline_job_name(execution_arn.rsplit("/", 1)[-1], name)
        sagemaker = self.keys.client("sagemaker", account, region)
        metadata = self._run_job(step, request, properties, job, metrics, sagemaker)
        config = step.get("CacheConfig") or {}
        if config.get("Enabled") and cache_key(kind, request) is not None:
            run = {
                "key": cache_key(kind, request),
                "time": started,
                "execution": execution_arn,
                "properties": properties[name],
                "metadata": metadata,
            }
            with self.lock:
                self.step_cache.setdefault((account, pipeline.lower(), name), []).append(run)
        return metadata, ""

    def _run_job(
        self,
        step: dict[str, Any],
        request: dict[str, Any],
        properties: dict[str, dict[str, Any]],
        job: str,
        metrics: dict[str, float],
        sagemaker: Any,
    ) -> dict[str, Any]:
        """Create the step's job (or model package) in moto from its resolved request, with
        `sagemaker`, a client of the pipeline's account."""
        name, kind = step["Name"], step["Type"]
        if kind == "Processing":
            sagemaker.create_processing_job(ProcessingJobName=job, **request)
            properties[name] = sagemaker.describe_processing_job(ProcessingJobName=job)
            with self.lock:  # created past the proxy: its resources are kept here
                arn = properties[name]["ProcessingJobArn"]
                self.processing_resources[arn] = request["ProcessingResources"]
            for spec in step.get("PropertyFiles") or []:
                outputs = request["ProcessingOutputConfig"]["Outputs"]
                uri = lookup(outputs, [spec["OutputName"], "S3Output", "S3Uri"], name)
                self._put(f"{uri.rstrip('/')}/{spec['FilePath']}", _evaluation_report(metrics))
            return {"ProcessingJob": {"Arn": properties[name]["ProcessingJobArn"]}}
        if kind == "Training":
            sagemaker.create_training_job(TrainingJobName=job, **request)
            artifact = f"{request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job}/output/model.tar.gz"
            self._put(artifact, self.model_artifact)
            described = sagemaker.describe_training_job(TrainingJobName=job)
            described["ModelArtifacts"] = {"S3ModelArtifacts": artifact}
            properties[name] = described
            return {"TrainingJob": {"Arn": described["TrainingJobArn"]}}
        if kind == "RegisterModel":
            arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
            properties[name] = sagemaker.describe_model_package(ModelPackageName=arn)
            return {"RegisterModel": {"Arn": arn}}
        raise RuntimeError(f"step type {kind!r} is not simulated")

    def _property_file(
        self,
        steps: dict[str, dict[str, Any]],
        properties: dict[str, dict[str, Any]],
        step: str,
        name: str,
    ) -> Any:
        spec = next(pf for pf in steps[step]["PropertyFiles"] if pf["PropertyFileName"] == name)
        outputs = properties[step]["ProcessingOutputConfig"]["Outputs"]
        uri = lookup(outputs, [spec["OutputName"], "S3Output", "S3Uri"], step)
        bucket, key = uri[5:].split("/", 1)
        body = self.s3.get_object(Bucket=bucket, Key=f"{key.rstrip('/')}/{spec['FilePath']}")
        return json.loads(body["Body"].read())

    def _put(self, uri: str, body: bytes) -> None:
        bucket, key = uri[5:].split("/", 1)
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    # -- hosting ------------------------------------------------------------------------------

    def _sagemaker_UpdateEndpoint(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        from moto.sagemaker.models import sagemaker_backends

        request = json.loads(body)
        account, _ = self.caller(headers)
        backend = sagemaker_backends[account][region]
        endpoint = backend.endpoints.get(request["EndpointName"])
        config = backend.endpoint_configs.get(request["EndpointConfigName"])
        if endpoint is None:
            return _json_error(
                400, "ValidationException", f'Could not find endpoint "{request["EndpointName"]}".'
            )
        if config is None:
            return _json_error(
                400,
                "ValidationException",
                f'Could not find endpoint configuration "{request["EndpointConfigName"]}".',
            )
        problems = self._update_problems(
            endpoint,
            backend.endpoint_configs[endpoint.endpoint_config_name],
            config,
            request,
            region,
        )
        if problems:
            raise Refused(problems)
        self.updating[account, endpoint.endpoint_name] = time.time() + self.update_seconds
        failure = self._health_check_failure(backend, config.endpoint_config_name)
        if failure:  # the new fleet never becomes healthy: SageMaker keeps the old one
            self.failed_updates[account, endpoint.endpoint_name] = (
                f"Failed to update endpoint: {failure}"
            )
            return _json({"EndpointArn": endpoint.arn})
        self.failed_updates.pop((account, endpoint.endpoint_name), None)
        # The blue/green update, collapsed to its outcome: every alarm stayed quiet.
        endpoint.endpoint_config_name = config.endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(
            config.production_variants
        )
        endpoint.data_capture_config = config.data_capture_config
        endpoint.last_modified_time = datetime.now(timezone.utc)
        return _json({"EndpointArn": endpoint.arn})

    def _update_problems(
        self, endpoint: Any, old: Any, new: Any, request: dict[str, Any], region: str
    ) -> list[str]:
        """What SageMaker refuses in an UpdateEndpoint that only its state shows."""
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        name = endpoint.endpoint_name
        account = endpoint.arn.split(":")[4]  # arn:aws:sagemaker:<region>:<account>:endpoint/
        # "Cannot update in-progress endpoint": SageMaker's ValidationException for an
        # endpoint that is Creating or Updating (the prefix AWS's own Kubernetes operator
        # matches, aws/amazon-sagemaker-operator-for-k8s, its SageMaker client wrapper's
        # DeleteEndpointInProgressMessagePrefix; UpdateEndpoint's documentation: "When
        # SageMaker receives the request, it sets the endpoint status to Updating").
        if time.time() < self.updating.get((account, name), 0.0):
            return [f'Cannot update in-progress endpoint "{endpoint.arn}".']
        problems: list[str] = []
        old_variants = {v["VariantName"]: v for v in old.production_variants}
        new_variants = {v["VariantName"]: v for v in new.production_variants}
        # Guide, deployment-guardrails-exclusions: "When doing a blue/green or rolling
        # deployment, your new endpoint configuration must have the same variant name as the
        # old endpoint configuration." Every UpdateEndpoint is blue/green (BlueGreenUpdate-
        # Policy: "If no update policy is specified, SageMaker uses a blue/green deployment
        # strategy with all at once traffic shifting"), so it holds without a
        # DeploymentConfig too (the stricter reading).
        if set(old_variants) != set(new_variants):
            problems.append(
                f"the new endpoint configuration's variants {sorted(new_variants)} must have "
                f"the same names as the old one's {sorted(old_variants)}"
            )
        # Guide, "Update endpoints that use auto scaling": "If the update would change the
        # instance type for any model that is a target for auto scaling, the update fails."
        targets = applicationautoscaling_backends[account][region].targets.get(
            "sagemaker:variant:DesiredInstanceCount", {}
        )
        for variant, settings in new_variants.items():
            before = old_variants.get(variant)
            resource = f"endpoint/{name}/variant/{variant}"
            if (
                before is not None
                and resource in targets
                and before.get("InstanceType") != settings.get("InstanceType")
            ):
                problems.append(
                    f"variant {variant} is a target for auto scaling: its instance type cannot "
                    f"change from {before.get('InstanceType')} to {settings.get('InstanceType')} "
                    "until the scaling policy and scalable target are removed"
                )
        # TrafficRoutingConfig.CanarySize / LinearStepSize in instances: at most 50 % (and,
        # linear, at least 10 %) of "the variant's total instance count" (the new fleet).
        fleet = sum(int(v.get("InitialInstanceCount") or 0) for v in new.production_variants)
        policy = (request.get("DeploymentConfig") or {}).get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {}
        for member, low in (("CanarySize", 0.0), ("LinearStepSize", 0.1)):
            size = routing.get(member) or {}
            if (
                size.get("Type") == "INSTANCE_COUNT"
                and fleet
                and not (low * fleet <= size["Value"] <= 0.5 * fleet)
            ):
                problems.append(
                    f"{member} of {size['Value']} instance(s) is outside "
                    f"{low:.0%}-50 % of the new fleet's {fleet}"
                )
        return problems

    def _served_container(self, backend: Any, model_name: str) -> tuple[str, dict[str, Any], str]:
        """The model data URL a model serves, its container's Environment and its image: a
        model of a model package serves the package's artifact and image, with the package
        container's Environment and the model's own on top (as the local deployer combines
        them). The double serves through the local endpoint's Model, so only the images
        that stands in for (smgha/backends/local/serving/images.py)."""
        record = backend._models[model_name]
        container = record.primary_container or record.containers[0]
        url = container.get("ModelDataUrl")
        environment = container.get("Environment") or {}
        image = container.get("Image") or ""
        if not url:
            # The package is read in its owner's account: an ARN's account, else the model's.
            name = container["ModelPackageName"]
            parts = package_arn_parts(name)
            owner = parts[1] if parts else backend.account_id
            package = self.keys.client(
                "sagemaker", owner, backend.region_name
            ).describe_model_package(ModelPackageName=name)
            served = package["InferenceSpecification"]["Containers"][0]
            url = served["ModelDataUrl"]
            environment = {**(served.get("Environment") or {}), **environment}
            image = served.get("Image") or ""
        return str(url), environment, str(image)

    def _health_check_failure(self, backend: Any, config_name: str) -> str:
        """Why a config's containers would fail SageMaker's /ping health check ('' if not):
        a container in script mode with no script (smgha/serving_container.py)."""
        for variant in backend.endpoint_configs[config_name].production_variants:
            _, environment, _ = self._served_container(backend, variant["ModelName"])
            if serving_container.script_mode_without_script(environment):
                # SageMaker's wording (AWS re:Post knowledge center, sagemaker-endpoint-
                # creation-fail): the variant "did not pass the ping health check".
                return (
                    f"The primary container for production variant {variant['VariantName']} "
                    "did not pass the ping health check. Please check CloudWatch logs for this "
                    "endpoint."
                )
        return ""

    # DeleteEndpoint: moto forgets the endpoint at once; SageMaker shows it "Deleting" for a
    # while ("Deleting: DeleteEndpoint is executing", botocore's EndpointStatus), then not at
    # all. The double answers DescribeEndpoint with its last description, Deleting, for
    # DELETING_SECONDS, and refuses a CreateEndpoint of the name meanwhile: the name is still
    # taken (the stricter reading; no SageMaker page says when a deleted name is free again).
    DELETING_SECONDS = 2.0

    def _sagemaker_DeleteEndpoint(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        from moto.sagemaker.models import sagemaker_backends

        name = json.loads(body)["EndpointName"]
        account, _ = self.caller(headers)
        endpoint = sagemaker_backends[account][region].endpoints.get(name)
        answer = self.forward("POST", path, headers, body)
        if answer[0] == 200 and endpoint is not None:
            last = {**endpoint.response_object, "EndpointStatus": "Deleting"}
            self.deleting[account, name] = (time.time() + self.DELETING_SECONDS, last)
        return answer

    def _still_deleting(self, account: str, name: str) -> dict[str, Any] | None:
        until, last = self.deleting.get((account, name), (0.0, {}))
        return last if time.time() < until else None

    def _sagemaker_CreateEndpoint(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        name = json.loads(body)["EndpointName"]
        account, _ = self.caller(headers)
        deleting = self._still_deleting(account, name)
        if deleting:
            raise Refused([f'Cannot create already existing endpoint "{deleting["EndpointArn"]}".'])
        return self.forward("POST", path, headers, body)

    def _sagemaker_DescribeEndpoint(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        from moto.sagemaker.models import sagemaker_backends

        account, _ = self.caller(headers)
        deleting = self._still_deleting(account, json.loads(body)["EndpointName"])
        if deleting:
            return _json(deleting)
        status, extra, answer = self.forward("POST", path, headers, body)
        if status != 200:
            return status, extra, answer
        document = json.loads(answer)
        name = document["EndpointName"]
        backend = sagemaker_backends[account][region]
        failure = self._health_check_failure(backend, document["EndpointConfigName"])
        if failure:  # a new endpoint whose container never becomes healthy
            return _json({**document, "EndpointStatus": "Failed", "FailureReason": failure})
        if (account, name) in self.failed_updates:  # rolled back to the old config, which serves
            document["FailureReason"] = self.failed_updates[account, name]
        if time.time() < self.updating.get((account, name), 0.0):
            document["EndpointStatus"] = "Updating"
        return _json(document)

    def _sagemaker_runtime_InvokeEndpoint(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        from moto.sagemaker.models import sagemaker_backends

        from smgha.backends.local.serving.inference import answer
        from smgha.backends.local.serving.model import Model

        name = urllib.parse.unquote(_INVOCATIONS.match(urllib.parse.urlsplit(path).path).group(1))  # type: ignore[union-attr]
        account, _ = self.caller(headers)
        backend = sagemaker_backends[account][region]
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            return _json_error(
                400, "ValidationError", f"Endpoint {name} of account {account} not found."
            )
        variant = backend.endpoint_configs[endpoint.endpoint_config_name].production_variants[0]
        url, environment, image = self._served_container(backend, variant["ModelName"])
        with self.lock:
            cache_key = f"{url} {image} {json.dumps(environment, sort_keys=True)}"
            model = self.models.get(cache_key)
            if model is None:
                bucket, key = url[5:].split("/", 1)
                local = self.scratch / f"model-{len(self.models)}.tar.gz"
                local.write_bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                model = self.models[cache_key] = Model(str(local), environment, image)
                model.load()
        # A container that cannot serve (script mode with no script) answers 500.
        reply = answer(
            model, body, headers.get("Content-Type", ""), headers.get("Accept", "text/csv")
        )
        if reply.status != 200:
            side = "server" if reply.status >= 500 else "client"
            document = {
                "__type": "ModelError",
                "message": f"Received {side} error from primary",
                "OriginalStatusCode": reply.status,
                "OriginalMessage": reply.body.decode(errors="replace"),
            }
            return (
                424,
                {"Content-Type": "application/x-amz-json-1.1"},
                json.dumps(document).encode(),
            )
        return (
            200,
            {
                "Content-Type": reply.content_type,
                "x-Amzn-Invoked-Production-Variant": variant["VariantName"],
            },
            reply.body,
        )

    # -- monitoring schedules -----------------------------------------------------------------

    def _sagemaker_CreateMonitoringSchedule(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        name = request["MonitoringScheduleName"]
        account, _ = self.caller(headers)
        if (account, name) in self.schedules:
            return _json_error(400, "ResourceInUse", f"Monitoring schedule {name} already exists")
        self._check_schedule(request, region, account)
        arn = f"arn:aws:sagemaker:{region}:{account}:monitoring-schedule/{name.lower()}"
        self.schedules[account, name] = {
            **request,
            "MonitoringScheduleArn": arn,
            "MonitoringScheduleStatus": "Scheduled",
            "CreationTime": _now(),
            "LastModifiedTime": _now(),
        }
        return _json({"MonitoringScheduleArn": arn})

    def _check_schedule(self, request: dict[str, Any], region: str, account: str) -> None:
        """Refuse a data-quality schedule SageMaker would not run (Refused)."""
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[account][region]
        config = request["MonitoringScheduleConfig"]
        definition = backend.data_quality_job_definitions.get(
            config.get("MonitoringJobDefinitionName", "")
        )
        if definition is None:
            raise Refused([f"no job definition {config.get('MonitoringJobDefinitionName')!r}"])
        # MonitoringStoppingCondition.MaxRuntimeInSeconds (botocore model documentation): "cannot
        # exceed the frequency of the job. For data quality ... up to 3600 seconds for an
        # hourly schedule."
        expression = config.get("ScheduleConfig", {}).get("ScheduleExpression", "")
        runtime = definition.stopping_condition.get("MaxRuntimeInSeconds", 3600)
        if expression == "cron(0 * ? * * *)" and runtime > 3600:
            raise Refused([f"MaxRuntimeInSeconds {runtime} exceeds the hourly schedule's 3600"])
        # Model Monitor analyses what data capture wrote: the guide's data capture page
        # ("model-monitor-data-capture") has capture enabled before a schedule. Whether
        # CreateMonitoringSchedule itself refuses an endpoint without capture is unconfirmed;
        # refusing is the stricter reading.
        name = definition.data_quality_job_input.get("EndpointInput", {}).get("EndpointName")
        endpoint = backend.endpoints.get(name)
        capture = getattr(endpoint, "data_capture_config", None) or {}
        if endpoint is None or not capture.get("EnableCapture", bool(capture)):
            raise Refused([f"endpoint {name!r} does not capture data for Model Monitor"])

    def _sagemaker_DescribeMonitoringSchedule(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        name = json.loads(body)["MonitoringScheduleName"]
        account, _ = self.caller(headers)
        if (account, name) not in self.schedules:
            return _json_error(400, "ResourceNotFound", f"Monitoring schedule {name} not found")
        return _json({k: v for k, v in self.schedules[account, name].items() if k != "Tags"})

    def _sagemaker_UpdateMonitoringSchedule(  # noqa: N802
        self, body: bytes, headers: Any, region: str, path: str
    ) -> tuple[int, dict[str, str], bytes]:
        request = json.loads(body)
        name = request["MonitoringScheduleName"]
        account, _ = self.caller(headers)
        if (account, name) not in self.schedules:
            return _json_error(400, "ResourceNotFound", f"Monitoring schedule {name} not found")
        self._check_schedule(request, region, account)
        schedule = self.schedules[account, name]
        schedule.update(request, LastModifiedTime=_now())
        return _json({"MonitoringScheduleArn": schedule["MonitoringScheduleArn"]})


def _evaluation_report(metrics: dict[str, float]) -> bytes:
    """ml/evaluate.py's evaluation.json layout (Model Monitor's model-quality metrics)."""
    document = {
        "binary_classification_metrics": {
            name: {"value": value, "standard_deviation": "NaN"} for name, value in metrics.items()
        }
    }
    return json.dumps(document).encode()


def _region(headers: Any) -> str:
    match = _CREDENTIAL.search(headers.get("Authorization", ""))
    return match.group(2) if match else "us-east-1"


# ---- the servers -----------------------------------------------------------------------------


def serve(double: Double) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and Expect: 100-continue for S3 uploads

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    chunk = self.rfile.read(size + 2)[:size]
                    if size == 0:
                        break
                    body += chunk
            else:
                body = self.rfile.read(length) if length else b""
            try:
                status, headers, data = double.handle(self.command, self.path, self.headers, body)
            except Exception as error:  # a bug of the double: say so to the caller
                status, headers, data = _json_error(500, "DoubleError", repr(error))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--calls", type=Path, required=True)
    parser.add_argument("--jwks-url", required=True)
    parser.add_argument("--model-artifact", type=Path, required=True)
    parser.add_argument("--metrics", action="append", type=json.loads, required=True)
    parser.add_argument("--gate-dir", type=Path)
    parser.add_argument("--gated-role", action="append", default=[])
    parser.add_argument("--update-seconds", type=float, default=0.0)
    args = parser.parse_args()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    double = Double(
        f"http://{host}:{port}",
        args.jwks_url,
        args.calls,
        args.model_artifact,
        args.metrics,
        gate_dir=args.gate_dir,
        gated_roles=frozenset(args.gated_role),
        update_seconds=args.update_seconds,
    )
    server = serve(double)
    proxy_host, proxy_port = server.server_address[:2]
    assert isinstance(proxy_host, str)  # getsockname() gives AF_INET a str host
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"url": f"http://{proxy_host}:{proxy_port}", "moto": double.moto_url})
    )
    tmp.rename(args.ready_file)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        moto.stop()


if __name__ == "__main__":
    main()
