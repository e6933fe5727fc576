"""VULNTRAIL_OIDC_* settings, and how verified claims become a user with grants
(pure functions: no provider, no database)."""

from __future__ import annotations

import json

import pytest

from vulntrail.auth.oidc import OidcRefused, account_from_claims
from vulntrail.auth.roles import Grant, Role
from vulntrail.config import ConfigError, OidcSettings, Settings, parse_role_map

ISSUER = "https://auth.example.test/application/o/vulntrail/"
ENV = {
    "VULNTRAIL_DATABASE_URL": "sqlite:///x.db",
    "VULNTRAIL_OIDC_ISSUER": ISSUER,
    "VULNTRAIL_OIDC_CLIENT_ID": "vulntrail",
    "VULNTRAIL_OIDC_CLIENT_SECRET": "s3cret-value",
    "VULNTRAIL_OIDC_ROLE_MAP": json.dumps(
        {
            "appsec": [{"role": "admin"}],
            "team-orchestrator": [{"role": "writer", "products": "orchestrator-*"}],
            "everyone": {"role": "reader", "products": "shared-*"},
        }
    ),
    "VULNTRAIL_PUBLIC_URL": "https://vulntrail.example.test/",
}


def test_settings_from_the_environment():
    oidc = Settings.from_env(ENV).oidc
    assert oidc is not None
    assert oidc.issuer == ISSUER  # the provider's own spelling, trailing slash kept
    assert oidc.scopes == ("openid", "email", "profile", "groups")
    assert oidc.groups_claim == "groups" and oidc.local_login is True and oidc.name == "SSO"
    assert oidc.redirect_uri("http://ignored/") == (
        "https://vulntrail.example.test/login/sso/callback"
    )
    assert [(e.group, e.role, e.products) for e in oidc.role_map] == [
        ("appsec", "admin", "*"),
        ("team-orchestrator", "writer", "orchestrator-*"),
        ("everyone", "reader", "shared-*"),
    ]
    assert "s3cret-value" not in repr(oidc)
    assert Settings.from_env({"VULNTRAIL_DATABASE_URL": "sqlite:///x.db"}).oidc is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"VULNTRAIL_OIDC_CLIENT_ID": ""}, "VULNTRAIL_OIDC_CLIENT_ID is required"),
        ({"VULNTRAIL_OIDC_CLIENT_SECRET": ""}, "VULNTRAIL_OIDC_CLIENT_SECRET is required"),
        ({"VULNTRAIL_OIDC_ISSUER": "auth.example.test"}, "VULNTRAIL_OIDC_ISSUER='auth"),
        ({"VULNTRAIL_OIDC_SCOPES": "email groups"}, "must include 'openid'"),
        ({"VULNTRAIL_OIDC_LOCAL_LOGIN": "maybe"}, "VULNTRAIL_OIDC_LOCAL_LOGIN='maybe'"),
        ({"VULNTRAIL_OIDC_ROLE_MAP": "{not json"}, "VULNTRAIL_OIDC_ROLE_MAP is not valid JSON"),
        (
            {"VULNTRAIL_OIDC_ROLE_MAP": '{"g": [{"role": "boss"}]}'},
            "VULNTRAIL_OIDC_ROLE_MAP['g'][0]: unknown role 'boss'",
        ),
        (
            {"VULNTRAIL_OIDC_ISSUER": "", "VULNTRAIL_OIDC_LOCAL_LOGIN": "false"},
            "needs VULNTRAIL_OIDC_ISSUER",
        ),
    ],
)
def test_bad_settings_name_the_key_and_value(changes, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        Settings.from_env({**ENV, **changes})


def _settings(**changes) -> OidcSettings:
    oidc = Settings.from_env({**ENV, **changes}).oidc
    assert oidc is not None
    return oidc


def test_claims_become_a_user_with_the_mapped_grants():
    account = account_from_claims(
        _settings(),
        ISSUER,
        {
            "sub": "u-1",
            "preferred_username": "alice",
            "email": "alice@example.test",
            "name": "Alice",
            "groups": ["team-orchestrator", "everyone", "unmapped"],
        },
    )
    assert (account.username, account.source, account.subject) == ("alice", ISSUER, "u-1")
    assert account.is_admin is False
    assert account.grants == (
        Grant(Role.WRITER, "orchestrator-*"),
        Grant(Role.READER, "shared-*"),
    )
    admin = account_from_claims(_settings(), ISSUER, {"sub": "u-2", "groups": "appsec"})
    assert admin.is_admin is True and admin.grants == () and admin.username == "u-2"


def test_user_name_falls_back_to_email_then_sub_and_must_be_usable():
    settings = _settings()
    assert account_from_claims(settings, ISSUER, {"sub": "s", "email": "e@x"}).username == "e@x"
    assert account_from_claims(settings, ISSUER, {"sub": "s", "email": " "}).username == "s"
    with pytest.raises(OidcRefused, match="no usable user name"):
        account_from_claims(settings, ISSUER, {"sub": "x" * 151})


def test_groups_can_sit_deeper_in_the_claims():
    settings = _settings(VULNTRAIL_OIDC_GROUPS_CLAIM="realm_access.roles")
    claims = {"sub": "k", "realm_access": {"roles": ["appsec", 7]}}
    assert account_from_claims(settings, ISSUER, claims).is_admin is True


def test_an_empty_role_map_gives_no_rights():
    assert parse_role_map("") == ()
    settings = _settings(VULNTRAIL_OIDC_ROLE_MAP="")
    account = account_from_claims(settings, ISSUER, {"sub": "s", "groups": ["appsec"]})
    assert account.grants == () and account.is_admin is False
