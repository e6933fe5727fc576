"""The import use case: target, report, credential → import → gate → summary files.

Nothing here prints or exits; the CLI does both. Errors are the client's own
(`errors.py`), each with its exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vulntrail.client import credentials, gate, junit, summary
from vulntrail.client.ci_env import ImportTarget, TargetOptions, detect, resolve
from vulntrail.client.errors import ReportError, UsageError
from vulntrail.client.masking import Masker
from vulntrail.client.model import FindingRow, ImportOutcome, RunFinding
from vulntrail.client.retry import RetryPolicy
from vulntrail.client.upload import DEFAULT_TIMEOUT, Server

GITHUB_SUMMARY_VAR = "GITHUB_STEP_SUMMARY"


@dataclass(frozen=True, slots=True)
class Outputs:
    job_summary: Path | None = None  # Markdown; GITHUB_STEP_SUMMARY when unset
    junit: Path | None = None
    gitlab_annotations: Path | None = None


@dataclass(frozen=True, slots=True)
class ImportJob:
    report: Path
    url: str
    scan_type: str = "Trivy Scan"
    target: TargetOptions = field(default_factory=TargetOptions)
    credentials: credentials.CredentialOptions = field(
        default_factory=credentials.CredentialOptions
    )
    rules: tuple[gate.Rule, ...] = ()
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = DEFAULT_TIMEOUT
    outputs: Outputs = field(default_factory=Outputs)


def read_report(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ReportError(f"cannot read the report {str(path)!r}: {error.strerror}") from None
    if not data.strip():
        raise ReportError(f"the report {str(path)!r} is empty")
    return data


def run(
    job: ImportJob, env: Mapping[str, str], masker: Masker, log: Callable[[str], None]
) -> summary.Summary:
    """Import the report and evaluate the gate; the summary says what happened."""
    if not job.url:
        raise UsageError("no server: pass --url or set VULNTRAIL_URL")
    target = resolve(job.target, detect(env))
    log(
        f"target: product {target.product!r}, engagement {target.engagement!r}, "
        f"branch {target.branch!r}, commit {target.commit!r}"
    )
    report = read_report(job.report)
    credential = credentials.obtain(job.credentials, env, masker, job.policy, log)
    log(f"credentials: {credential.source}")
    with Server(job.url, credential, policy=job.policy, timeout=job.timeout, log=log) as server:
        outcome = server.import_scan(report, job.report.name, job.scan_type, target)
        log(f"imported: engagement {outcome.engagement_id}, test {outcome.test_id}")
        return _evaluate(server, job, target, outcome)


def _evaluate(
    server: Server, job: ImportJob, target: ImportTarget, outcome: ImportOutcome
) -> summary.Summary:
    run_findings: list[RunFinding] | None = None
    link = None
    if outcome.engagement_id is not None:
        run_findings = server.run_findings(outcome.engagement_id)
        # No per-run view means DefectDojo, whose engagement page is /engagement/{id}.
        link = server.engagement_link(outcome.engagement_id, defectdojo=run_findings is None)
    new_rows: list[FindingRow] | None = None
    if run_findings is not None and any(r.scope is gate.Scope.NEW for r in job.rules):
        default_branch = server.default_branch(target.product)
        on_default = default_branch is None or target.branch in (None, default_branch)
        new_rows = gate.introduced(run_findings, on_default_branch=on_default)
    verdicts = []
    for rule in job.rules:
        if rule.scope is gate.Scope.NEW:
            verdicts.append(gate.new_verdict(rule, new_rows, outcome.statistics))
        else:
            count, rows = server.open_findings(target.product, rule.severity, limit=gate.TABLE_ROWS)
            verdicts.append(gate.Verdict(rule, count, tuple(rows)))
    return summary.Summary(target, outcome, link, tuple(verdicts))


def publish(
    result: summary.Summary, outputs: Outputs, env: Mapping[str, str], masker: Masker
) -> list[str]:
    """Write the requested summary files; return the problems (the import already happened)."""
    problems: list[str] = []
    github = env.get(GITHUB_SUMMARY_VAR)
    markdown_path = outputs.job_summary or (Path(github) if github else None)
    # GITHUB_STEP_SUMMARY is shared by the job's steps: append to it, overwrite the rest.
    writes = [
        (markdown_path, summary.markdown(result), "a" if outputs.job_summary is None else "w"),
        (outputs.junit, junit.render(result), "w"),
        (outputs.gitlab_annotations, summary.gitlab_annotations(result), "w"),
    ]
    for path, content, mode in writes:
        if path is None:
            continue
        try:
            with path.open(mode, encoding="utf-8") as handle:
                handle.write(masker.mask(content))
        except OSError as error:
            problems.append(f"cannot write {str(path)!r}: {error.strerror}")
    return problems
