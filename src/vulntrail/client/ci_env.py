"""The CI environment → the import's product, engagement, branch and commit (pure functions).

The defaults reproduce the seed's `defectdojo-import` job: product
`{prefix}{project}`, engagement `CI-{branch}-{pipeline_id}`, `branch_tag` the
branch and `commit_hash` the short commit. An explicit option always wins over
the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vulntrail.client.errors import UsageError

# GitLab's CI_COMMIT_SHORT_SHA is 8 characters; GitHub only has the full SHA.
SHORT_SHA_LENGTH = 8


@dataclass(frozen=True, slots=True)
class CiContext:
    """What the CI system says about the running job; every field may be missing."""

    system: str  # "gitlab", "github" or "none"
    project: str | None = None
    branch: str | None = None
    pipeline_id: str | None = None
    commit: str | None = None


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """The command-line options that name the import target (None: take the CI default)."""

    product: str | None = None
    product_prefix: str = ""
    engagement: str | None = None
    branch: str | None = None
    commit: str | None = None
    build_id: str | None = None


@dataclass(frozen=True, slots=True)
class ImportTarget:
    product: str
    engagement: str
    branch: str | None
    commit: str | None
    build_id: str | None


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _gitlab(env: Mapping[str, str]) -> CiContext:
    return CiContext(
        system="gitlab",
        project=_first(env, "CI_PROJECT_NAME"),
        # Merge-request and tag pipelines have no CI_COMMIT_BRANCH.
        branch=_first(
            env, "CI_COMMIT_BRANCH", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME"
        ),
        pipeline_id=_first(env, "CI_PIPELINE_ID"),
        commit=_first(env, "CI_COMMIT_SHORT_SHA"),
    )


def _github(env: Mapping[str, str]) -> CiContext:
    repository = _first(env, "GITHUB_REPOSITORY")
    sha = _first(env, "GITHUB_SHA")
    return CiContext(
        system="github",
        project=repository.rsplit("/", 1)[-1] if repository else None,
        # GITHUB_HEAD_REF is the source branch of a pull request; GITHUB_REF_NAME
        # would be "123/merge" there.
        branch=_first(env, "GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
        # GITHUB_RUN_ID grows with every run of the repository, like CI_PIPELINE_ID,
        # so vulntrail orders the runs of a branch correctly.
        pipeline_id=_first(env, "GITHUB_RUN_ID"),
        commit=sha[:SHORT_SHA_LENGTH] if sha else None,
    )


def detect(env: Mapping[str, str]) -> CiContext:
    """Read the job's context from GitLab CI or GitHub Actions variables."""
    if env.get("GITLAB_CI") or env.get("CI_PIPELINE_ID"):
        return _gitlab(env)
    if env.get("GITHUB_ACTIONS"):
        return _github(env)
    return CiContext(system="none")


def resolve(options: TargetOptions, context: CiContext) -> ImportTarget:
    """Fill every option left unset from the CI context; name what is missing."""
    branch = options.branch or context.branch
    product = options.product
    if product is None:
        if context.project is None:
            raise UsageError(
                "no product: pass --product, or run in CI "
                "(CI_PROJECT_NAME on GitLab, GITHUB_REPOSITORY on GitHub Actions)"
            )
        product = options.product_prefix + context.project
    engagement = options.engagement
    if engagement is None:
        if branch is None or context.pipeline_id is None:
            raise UsageError(
                "no engagement: pass --engagement, or run in CI so that it defaults to "
                "CI-{branch}-{pipeline id} (CI_COMMIT_BRANCH and CI_PIPELINE_ID on GitLab, "
                "GITHUB_REF_NAME and GITHUB_RUN_ID on GitHub Actions)"
            )
        engagement = f"CI-{branch}-{context.pipeline_id}"
    return ImportTarget(
        product=product,
        engagement=engagement,
        branch=branch,
        commit=options.commit or context.commit,
        build_id=options.build_id or context.pipeline_id,
    )
