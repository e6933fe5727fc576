"""The CI environment gives the seed's product, engagement, branch and commit."""

from __future__ import annotations

import pytest
from client_support import gitlab_vars

from vulntrail.client.ci_env import ImportTarget, TargetOptions, detect, resolve
from vulntrail.client.errors import ExitCode, UsageError


def test_gitlab_job_defaults_to_the_seeds_naming_with_the_prefix() -> None:
    env = gitlab_vars(project="server", branch="main", pipeline=1234, sha="abc12345")
    target = resolve(TargetOptions(product_prefix="orchestrator-"), detect(env))
    assert target == ImportTarget(
        product="orchestrator-server",
        engagement="CI-main-1234",
        branch="main",
        commit="abc12345",
        build_id="1234",
    )


def test_without_a_prefix_the_product_is_the_project_name() -> None:
    target = resolve(TargetOptions(), detect(gitlab_vars(project="ui")))
    assert target.product == "ui"


def test_merge_request_pipelines_use_the_source_branch() -> None:
    env = gitlab_vars()
    del env["CI_COMMIT_BRANCH"]
    env["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] = "feature/x"
    env["CI_COMMIT_REF_NAME"] = "refs/merge-requests/5/head"
    target = resolve(TargetOptions(), detect(env))
    assert target.branch == "feature/x"
    assert target.engagement == "CI-feature/x-1001"


def test_github_actions_equivalents() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "cwiq/agent",
        "GITHUB_REF_NAME": "main",
        "GITHUB_RUN_ID": "987654",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    }
    target = resolve(TargetOptions(product_prefix="orchestrator-"), detect(env))
    assert (target.product, target.engagement, target.branch, target.commit) == (
        "orchestrator-agent",
        "CI-main-987654",
        "main",
        "01234567",
    )


def test_github_pull_requests_use_the_head_branch_not_the_merge_ref() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "cwiq/agent",
        "GITHUB_REF_NAME": "42/merge",
        "GITHUB_HEAD_REF": "fix-deps",
        "GITHUB_RUN_ID": "5",
    }
    assert resolve(TargetOptions(), detect(env)).branch == "fix-deps"


def test_explicit_options_win_over_the_environment() -> None:
    options = TargetOptions(
        product="p", engagement="nightly", branch="release", commit="c0ffee", build_id="b1"
    )
    target = resolve(options, detect(gitlab_vars()))
    assert target == ImportTarget("p", "nightly", "release", "c0ffee", "b1")


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        (TargetOptions(engagement="e"), "--product"),
        (TargetOptions(product="p"), "--engagement"),
    ],
)
def test_outside_ci_the_error_names_the_option_to_pass(
    options: TargetOptions, missing: str
) -> None:
    with pytest.raises(UsageError) as caught:
        resolve(options, detect({}))
    assert missing in caught.value.message
    assert caught.value.exit_code is ExitCode.USAGE
