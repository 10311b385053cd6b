# Authentication: the provider is chosen by OAUTH_PROVIDER (github, cilogon or jwt).
import os

provider = os.environ.get("OAUTH_PROVIDER", "github")
if provider == "github":
    c.JupyterHub.authenticator_class = "oauthenticator.GitHubOAuthenticator"
    c.GitHubOAuthenticator.allowed_organizations = set(filter(None, os.environ.get("GITHUB_ORGANIZATION_WHITELIST", "").split(",")))
elif provider == "cilogon":
    c.JupyterHub.authenticator_class = "oauthenticator.CILogonOAuthenticator"
else:
    c.JupyterHub.authenticator_class = "jwtauthenticator.jwtauthenticator.JSONWebTokenAuthenticator"
    c.JSONWebTokenAuthenticator.signing_certificate = "/opt/jwt/signing-certificate.pem"
