"""Who may log in: GitHub organization members, CILogon group members, or the holders of a JWT
signed by the identity provider, chosen by OAUTH_PROVIDER (github, the default, cilogon or jwt).
30-environment.py configures the chosen class (each file of the configuration runs on its own:
it sees this one's classes only through the configuration, by their names).

Each LSST authenticator keeps what it learned in auth_state (encrypted by JupyterHub with
JUPYTERHUB_CRYPT_KEY): the access token, the user's profile, and their groups as a mapping of
group name to numeric id. It refuses anyone in a denied group or outside every allowed one, and
before a lab starts it gives the lab the user's identity: EXTERNAL_UID, EXTERNAL_GROUPS
("name:gid,..."), and the user's name, login and email where the provider has them.
"""
import json
import os
import random

from jose import jwt as jose_jwt
from jupyterhub.handlers import BaseHandler, LogoutHandler
from jupyterhub.utils import url_path_join
from jwtauthenticator.jwtauthenticator import JSONWebTokenAuthenticator
from oauthenticator.cilogon import CILogonOAuthenticator
from oauthenticator.common import next_page_from_links
from oauthenticator.github import GITHUB_API, GITHUB_PROTOCOL, GitHubOAuthenticator
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPError, HTTPRequest


def names_from(variable):
    """The comma-separated names of an environment variable, as a set."""
    return {name.strip() for name in (os.environ.get(variable) or "").split(",") if name.strip()}


def group_environment(groups):
    """EXTERNAL_GROUPS for a lab: "name:gid,...". A group the provider gives no id gets one made
    up, outside 16 bits and unlikely to collide, unless STRICT_LDAP_GROUPS says to leave it out."""
    made_up = random.randint(30_000_000, 40_000_000)
    entries = []
    for name, gid in sorted(groups.items()):
        if gid is None:
            if os.environ.get("STRICT_LDAP_GROUPS"):
                continue
            gid, made_up = made_up, made_up + 1
        entries.append("{}:{}".format(name, gid))
    return ",".join(entries)


def admitted(groups, allowed, denied, log, who):
    """Whether someone in `groups` may log in: in no denied group, and in an allowed one (when the
    allowed set is empty, the provider's own check decided)."""
    refused = set(groups) & denied
    if refused:
        log.warning("Refusing %s: in denied groups %s", who, sorted(refused))
        return False
    if allowed and not set(groups) & allowed:
        log.warning("Refusing %s: in none of the allowed groups %s", who, sorted(allowed))
        return False
    return True


def github_headers(token):
    return {"Accept": "application/json", "User-Agent": "JupyterHub", "Authorization": "token {}".format(token)}


class LSSTGitHubAuth(GitHubOAuthenticator):
    """GitHub: members of the allowed organizations (GITHUB_ORGANIZATION_WHITELIST, checked by
    GitHubOAuthenticator's github_organization_whitelist), none of the denied ones
    (GITHUB_ORGANIZATION_DENYLIST). Needs the read:org scope to see private memberships."""

    enable_auth_state = True

    async def authenticate(self, handler, data=None):
        userdict = await super().authenticate(handler, data)
        if not userdict:
            return None
        token = userdict["auth_state"]["access_token"]
        organizations = await self.organizations(token)
        if organizations is None:
            self.log.warning("Refusing %s: cannot list their organizations", userdict["name"])
            return None
        if not admitted(organizations, set(), names_from("GITHUB_ORGANIZATION_DENYLIST"), self.log, userdict["name"]):
            return None
        userdict["auth_state"]["groups"] = organizations
        return userdict

    async def organizations(self, token):
        """The user's organizations, {login: id} (logins cut to 32 characters, as group names are)."""
        found = {}
        url = "{}://{}/user/orgs".format(GITHUB_PROTOCOL, GITHUB_API)
        while url:
            try:
                response = await AsyncHTTPClient().fetch(HTTPRequest(url, headers=github_headers(token)))
            except HTTPError as error:
                self.log.warning("Listing organizations failed: %s", error)
                return None
            for organization in json.loads(response.body.decode("utf8", "replace")):
                found[organization["login"][:32]] = organization["id"]
            url = next_page_from_links(response)
        return found

    async def primary_email(self, token):
        """The user's primary email, private ones included (with the user:email scope)."""
        url = "{}://{}/user/emails".format(GITHUB_PROTOCOL, GITHUB_API)
        while url:
            try:
                response = await AsyncHTTPClient().fetch(HTTPRequest(url, headers=github_headers(token)))
            except HTTPError:
                return None
            for entry in json.loads(response.body.decode("utf8", "replace")):
                if entry.get("primary") and entry.get("email"):
                    return entry["email"]
            url = next_page_from_links(response)
        return None

    async def pre_spawn_start(self, user, spawner):
        state = await user.get_auth_state() or {}
        profile = state.get("github_user") or {}
        token = state.get("access_token")
        environment = spawner.environment
        if profile.get("id") is not None:
            environment["EXTERNAL_UID"] = str(profile["id"])
        groups = state.get("groups")
        if groups is None and token:
            groups = await self.organizations(token)
        if groups:
            environment["EXTERNAL_GROUPS"] = group_environment(groups)
        email = profile.get("email") or (await self.primary_email(token) if token else None)
        if email:
            environment["GITHUB_EMAIL"] = email
        if profile.get("login"):
            environment["GITHUB_LOGIN"] = profile["login"]
            environment["GITHUB_NAME"] = profile.get("name") or profile["login"]
        if token:
            environment["GITHUB_ACCESS_TOKEN"] = token


class LSSTCILogonAuth(CILogonOAuthenticator):
    """CILogon (through the identity provider CILOGON_IDP_SELECTION when set): members of the
    allowed groups (CILOGON_GROUP_WHITELIST, default lsst_users), none of the denied ones
    (CILOGON_GROUP_DENYLIST), as the identity provider's isMemberOf claim lists them. The username
    is the uid claim, else the ePPN's user part."""

    enable_auth_state = True
    additional_username_claims = ["uid"]

    async def authenticate(self, handler, data=None):
        userdict = await super().authenticate(handler, data)
        if not userdict:
            return None
        state = userdict["auth_state"]
        profile = state.get("cilogon_user") or {}
        if not (state.get("token_response") or {}).get("id_token"):
            self.log.warning("Refusing %s: no ID token", userdict["name"])
            return None
        groups = {group["name"]: group.get("id") for group in profile.get("isMemberOf") or []}
        allowed = names_from("CILOGON_GROUP_WHITELIST") or {"lsst_users"}
        if not admitted(groups, allowed, names_from("CILOGON_GROUP_DENYLIST"), self.log, userdict["name"]):
            return None
        state["groups"] = groups
        if profile.get("uid"):
            userdict["name"] = profile["uid"]
        elif "@" in (profile.get("eppn") or ""):
            userdict["name"] = profile["eppn"].split("@", 1)[0]
        return userdict

    async def pre_spawn_start(self, user, spawner):
        state = await user.get_auth_state() or {}
        profile = state.get("cilogon_user") or {}
        uid = profile.get("uidNumber") or (profile.get("sub") or "").split("/")[-1]
        if uid:
            spawner.environment["EXTERNAL_UID"] = str(uid)
        if state.get("groups"):
            spawner.environment["EXTERNAL_GROUPS"] = group_environment(state["groups"])
        if profile.get("email"):
            spawner.environment["GITHUB_EMAIL"] = profile["email"]


class LSSTJWTLoginHandler(BaseHandler):
    """Logs in the bearer of a JWT signed by the identity provider (its certificate at the
    authenticator's signing_certificate), for the expected audience, from the header named by
    header_name (the token alone, or "Bearer <token>") or the access_token parameter. Members of
    the allowed groups only (CILOGON_GROUP_WHITELIST, default lsst_users), none of the denied."""

    async def get(self):
        authenticator = self.authenticator
        header = self.request.headers.get(authenticator.header_name, "")
        parameter = self.get_argument(authenticator.param_name, default="")
        if header and parameter:
            raise web.HTTPError(400, "a token in both the header and the parameter")
        token = header or parameter
        if header and " " in header:
            scheme, token = header.split(None, 1)
            if scheme.lower() != "bearer":
                raise web.HTTPError(403, "not a bearer token")
        if not token:
            raise web.HTTPError(401, "no token")
        try:
            with open(authenticator.signing_certificate) as certificate:
                claims = jose_jwt.decode(
                    token,
                    certificate.read(),
                    algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"],
                    audience=authenticator.expected_audience or None,
                    options={"verify_aud": bool(authenticator.expected_audience)},
                )
        except Exception as error:  # jose raises several kinds; all mean the same here
            self.log.warning("Refusing a token: %s", error)
            raise web.HTTPError(401, "the token does not verify")
        username = claims.get(authenticator.username_claim_field)
        if not username:
            raise web.HTTPError(401, "the token has no {} claim".format(authenticator.username_claim_field))
        groups = {group["name"]: group.get("id") for group in claims.get("isMemberOf") or []}
        allowed = names_from("CILOGON_GROUP_WHITELIST") or {"lsst_users"}
        if not admitted(groups, allowed, names_from("CILOGON_GROUP_DENYLIST"), self.log, username):
            raise web.HTTPError(403, "not in an allowed group")
        user = self.user_from_username(username)
        await user.save_auth_state({"id": username, "access_token": token, "claims": claims, "groups": groups})
        self.set_login_cookie(user)
        self.redirect(self.get_argument("next", default="") or url_path_join(self.hub.server.base_url, "home"))


class LSSTJWTLogoutHandler(LogoutHandler):
    """Logging out goes to the identity provider's sign-in page (LOGOUT_URL)."""

    async def render_logout_page(self):
        self.redirect(os.environ.get("LOGOUT_URL") or "/oauth2/sign_in", permanent=False)


class LSSTJWTAuth(JSONWebTokenAuthenticator):
    """A JWT from the identity provider in front of the hub (the LSST portal's
    X-Portal-Authorization header)."""

    enable_auth_state = True

    def get_handlers(self, app):
        return [(r"/login", LSSTJWTLoginHandler), (r"/logout", LSSTJWTLogoutHandler)]

    async def pre_spawn_start(self, user, spawner):
        state = await user.get_auth_state() or {}
        claims = state.get("claims") or {}
        if state.get("access_token"):
            spawner.environment["ACCESS_TOKEN"] = state["access_token"]
        uid = claims.get("uidNumber") or (claims.get("sub") or "").split("/")[-1]
        if uid:
            spawner.environment["EXTERNAL_UID"] = str(uid)
        if claims.get("email"):
            spawner.environment["GITHUB_EMAIL"] = claims["email"]
        if state.get("groups"):
            spawner.environment["EXTERNAL_GROUPS"] = group_environment(state["groups"])


authenticators = {"github": LSSTGitHubAuth, "cilogon": LSSTCILogonAuth, "jwt": LSSTJWTAuth}
provider = os.environ.get("OAUTH_PROVIDER") or "github"
if provider not in authenticators:
    raise RuntimeError("OAUTH_PROVIDER is {!r}: expected github, cilogon or jwt".format(provider))
c.JupyterHub.authenticator_class = authenticators[provider]  # noqa: F821 (JupyterHub's configuration provides c)
