"""`vulntrail import REPORT`: the seed's CI import as one command (thin: options → ImportJob)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import typer

from vulntrail.client import gate, importer, summary
from vulntrail.client.ci_env import TargetOptions
from vulntrail.client.credentials import AuthMethod, CredentialOptions
from vulntrail.client.errors import EXIT_CODE_HELP, ClientError, ExitCode
from vulntrail.client.masking import Masker
from vulntrail.client.retry import RetryPolicy
from vulntrail.client.upload import DEFAULT_TIMEOUT
from vulntrail.client.vault import (
    DEFAULT_AUTH_PATH,
    DEFAULT_FIELD,
    DEFAULT_ROLE,
    DEFAULT_SECRET,
    VaultOptions,
)

_TARGET = "Import target (defaults from GitLab CI / GitHub Actions)"
_AUTH = "Credentials"
_GATE = "Gate and reports"
_DELIVERY = "Delivery"
_LABELS = {
    ExitCode.USAGE: "configuration error",
    ExitCode.BAD_CREDENTIALS: "bad credentials",
    ExitCode.BAD_REPORT: "bad report",
    ExitCode.UNREACHABLE: "unreachable",
}


def import_report(
    report: Path = typer.Argument(..., metavar="REPORT", help="The Trivy JSON report."),
    url: str = typer.Option(
        "", "--url", envvar="VULNTRAIL_URL", help="Server base URL (vulntrail or DefectDojo)."
    ),
    scan_type: str = typer.Option("Trivy Scan", "--scan-type", help="DefectDojo scan type."),
    product: str | None = typer.Option(
        None,
        "--product",
        help="Product name (default: PREFIX + CI project name).",
        rich_help_panel=_TARGET,
    ),
    product_prefix: str = typer.Option(
        "",
        "--product-prefix",
        envvar="VULNTRAIL_PRODUCT_PREFIX",
        help="Prefix of the default product name, e.g. 'orchestrator-'.",
        rich_help_panel=_TARGET,
    ),
    engagement: str | None = typer.Option(
        None,
        "--engagement",
        help="Engagement name (default: CI-{branch}-{pipeline id}).",
        rich_help_panel=_TARGET,
    ),
    branch: str | None = typer.Option(
        None,
        "--branch",
        help="branch_tag (default: CI_COMMIT_BRANCH / GITHUB_REF_NAME).",
        rich_help_panel=_TARGET,
    ),
    commit: str | None = typer.Option(
        None,
        "--commit",
        help="commit_hash (default: CI_COMMIT_SHORT_SHA / GITHUB_SHA).",
        rich_help_panel=_TARGET,
    ),
    build_id: str | None = typer.Option(
        None,
        "--build-id",
        help="build_id (default: CI_PIPELINE_ID / GITHUB_RUN_ID).",
        rich_help_panel=_TARGET,
    ),
    auth: AuthMethod = typer.Option(
        AuthMethod.AUTO,
        "--auth",
        case_sensitive=False,
        help="auto: OIDC JWT if --oidc-token-var, else Vault if --vault-addr, else "
        "VULNTRAIL_TOKEN.",
        rich_help_panel=_AUTH,
    ),
    oidc_token_var: str | None = typer.Option(
        None,
        "--oidc-token-var",
        envvar="VULNTRAIL_OIDC_TOKEN_VAR",
        metavar="NAME",
        help="Send the JWT in this variable (a GitLab id_tokens name) as Bearer.",
        rich_help_panel=_AUTH,
    ),
    jwt_audience: str | None = typer.Option(
        None,
        "--jwt-audience",
        envvar="VULNTRAIL_JWT_AUDIENCE",
        help="Audience of the OIDC token requested on GitHub Actions.",
        rich_help_panel=_AUTH,
    ),
    vault_addr: str | None = typer.Option(
        None,
        "--vault-addr",
        envvar=["VAULT_ADDR", "VAULT_SERVER_URL", "BAO_ADDR"],
        help="Vault/OpenBao address: log in with the job's JWT.",
        rich_help_panel=_AUTH,
    ),
    vault_role: str = typer.Option(DEFAULT_ROLE, "--vault-role", rich_help_panel=_AUTH),
    vault_secret: str = typer.Option(
        DEFAULT_SECRET,
        "--vault-secret",
        help="KV path (KV v2: <mount>/data/<path>).",
        rich_help_panel=_AUTH,
    ),
    vault_field: str = typer.Option(DEFAULT_FIELD, "--vault-field", rich_help_panel=_AUTH),
    vault_auth_path: str = typer.Option(
        DEFAULT_AUTH_PATH,
        "--vault-auth-path",
        help="Mount of the JWT auth method.",
        rich_help_panel=_AUTH,
    ),
    vault_jwt_var: str | None = typer.Option(
        None,
        "--vault-jwt-var",
        metavar="NAME",
        help="Variable with the JWT for Vault (default: CI_JOB_JWT_V2, then VAULT_ID_TOKEN).",
        rich_help_panel=_AUTH,
    ),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        envvar="VULNTRAIL_FAIL_ON",
        metavar="RULES",
        help="Exit 1 on matches, e.g. new:critical,new:high or open:critical.",
        rich_help_panel=_GATE,
    ),
    job_summary: Path | None = typer.Option(
        None,
        "--job-summary",
        help="Write the Markdown summary here (default: append to GITHUB_STEP_SUMMARY when set).",
        rich_help_panel=_GATE,
    ),
    junit: Path | None = typer.Option(
        None, "--junit", help="Write a JUnit XML report here.", rich_help_panel=_GATE
    ),
    gitlab_annotations: Path | None = typer.Option(
        None,
        "--gitlab-annotations",
        help="Write GitLab annotations (engagement link) here.",
        rich_help_panel=_GATE,
    ),
    retries: int = typer.Option(
        4,
        "--retries",
        min=0,
        help="Retries on connection errors, 429 and 5xx.",
        rich_help_panel=_DELIVERY,
    ),
    retry_backoff: float = typer.Option(
        2.0,
        "--retry-backoff",
        min=0.0,
        help="First wait in seconds; doubles each retry.",
        rich_help_panel=_DELIVERY,
    ),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT,
        "--timeout",
        min=1.0,
        help="Seconds per request.",
        rich_help_panel=_DELIVERY,
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Say what happens (no secrets)."),
) -> None:
    """Import a Trivy report as the seed's CI job does, then apply the gate.

    Every option defaults from the CI environment. In a GitLab job,
    `vulntrail import trivy.json` posts to product PREFIX+CI_PROJECT_NAME,
    engagement CI-{CI_COMMIT_BRANCH}-{CI_PIPELINE_ID}. Secrets are never printed.
    """
    masker = Masker()

    def log(line: str) -> None:
        typer.echo(masker.mask(line), err=True)

    try:
        job = importer.ImportJob(
            report=report,
            url=url,
            scan_type=scan_type,
            target=TargetOptions(product, product_prefix, engagement, branch, commit, build_id),
            credentials=CredentialOptions(
                method=auth,
                oidc_token_var=oidc_token_var,
                jwt_var=vault_jwt_var,
                jwt_audience=jwt_audience,
                vault=VaultOptions(
                    vault_addr, vault_role, vault_secret, vault_field, vault_auth_path
                )
                if vault_addr
                else None,
            ),
            rules=gate.parse_rules(fail_on),
            policy=RetryPolicy(attempts=retries + 1, backoff=retry_backoff),
            timeout=timeout,
            outputs=importer.Outputs(job_summary, junit, gitlab_annotations),
        )
        result = importer.run(job, os.environ, masker, log if verbose else lambda _: None)
        code = _finish(result, job.outputs, masker, log)
    except ClientError as error:
        log(f"error [{_LABELS.get(error.exit_code, 'error')}]: {error.message}")
        code = error.exit_code
    except Exception as error:  # the last guard: no traceback (and its locals) ever reaches CI logs
        log(f"internal error: {type(error).__name__}: {error}")
        code = ExitCode.INTERNAL
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def _finish(
    result: summary.Summary, outputs: importer.Outputs, masker: Masker, log: Callable[[str], None]
) -> ExitCode:
    """Print the summary and the gate, write the summary files; the exit code they make."""
    for line in [*summary.text(result), *gate.render(result.verdicts)]:
        typer.echo(masker.mask(line))
    problems = importer.publish(result, outputs, os.environ, masker)
    for problem in problems:
        log(f"error [configuration error]: {problem}")
    if result.gate_failed:
        return ExitCode.GATE_FAILED
    return ExitCode.USAGE if problems else ExitCode.OK


import_report.__doc__ = f"{import_report.__doc__}\n\n    Exit codes: {EXIT_CODE_HELP}\n"
