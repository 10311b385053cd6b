"""The hub's own settings, from the environment its Deployment gives it (templates/hub/hub.yaml,
values from Secret hub), and from the Services Kubernetes announces to it: the hub's (HUB_SERVICE_*)
and the proxy's (PROXY_SERVICE_*), both made before the hub's pod, so that their variables are set.

Which authenticator: OAUTH_PROVIDER, github (default), cilogon or jwt. JupyterHub itself reads
JUPYTERHUB_CRYPT_KEY (it encrypts auth_state with the first key and decrypts with any) and
CONFIGPROXY_AUTH_TOKEN (the proxy's API token).
"""
import os
from urllib.parse import urlparse


def required(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError("{} is not set: the hub's Deployment must give it".format(name))
    return value




def names_from(variable):
    """The comma-separated names of an environment variable, as a set."""
    return {name.strip() for name in (os.environ.get(variable) or "").split(",") if name.strip()}


# The authenticator 10-authenticator.py chose, configured by its class's name.
provider = os.environ.get("OAUTH_PROVIDER") or "github"
settings = {"github": c.LSSTGitHubAuth, "cilogon": c.LSSTCILogonAuth, "jwt": c.LSSTJWTAuth}[provider]  # noqa: F821 (JupyterHub's configuration provides c)
callback = required("OAUTH_CALLBACK_URL")
settings.oauth_callback_url = callback
site = urlparse(callback)
if provider == "jwt":
    settings.signing_certificate = "/opt/jwt/signing-certificate.pem"
    settings.username_claim_field = "uid"
    settings.header_name = "X-Portal-Authorization"
    settings.expected_audience = "{}://{}".format(site.scheme, site.netloc) if site.netloc else os.environ.get("OAUTH_CLIENT_ID", "")
else:
    settings.client_id = required("OAUTH_CLIENT_ID")
    settings.client_secret = required("OAUTH_CLIENT_SECRET")
if provider == "github":
    # The organizations whose members may log in: without any, anyone with a GitHub account could.
    settings.github_organization_whitelist = names_from("GITHUB_ORGANIZATION_WHITELIST")
    if not settings.github_organization_whitelist:
        raise RuntimeError("GITHUB_ORGANIZATION_WHITELIST is empty: name the organizations whose members may log in")
    settings.scope = ["public_repo", "read:org", "user:email"]
if provider == "cilogon":
    settings.scope = ["openid", "org.cilogon.userinfo"]
    settings.skin = os.environ.get("CILOGON_SKIN") or "LSST"
    if os.environ.get("CILOGON_IDP_SELECTION"):
        settings.idp = os.environ["CILOGON_IDP_SELECTION"]

# Users' sessions and auth_state live in the database (sqlite on the hub's volume by default).
c.JupyterHub.db_url = required("SESSION_DB_URL")  # noqa: F821
# A restarted hub keeps the labs it had.
c.JupyterHub.cleanup_servers = False  # noqa: F821
c.JupyterHub.template_paths = ["/opt/lsst/software/jupyterhub/templates/"]  # noqa: F821
if os.environ.get("DEBUG"):
    c.JupyterHub.log_level = "DEBUG"  # noqa: F821
    c.Spawner.debug = True  # noqa: F821

# Where everything is: the hub at HUB_ROUTE, the public side on the proxy, the hub's API on its
# Service (the labs call back to it there).
route = os.environ.get("HUB_ROUTE") or "/"
route = route.rstrip("/") or "/"
if route != "/":
    c.JupyterHub.base_url = route  # noqa: F821
c.JupyterHub.bind_url = "http://0.0.0.0:8000" + route  # noqa: F821
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"  # noqa: F821
c.JupyterHub.hub_connect_url = "http://{}:{}".format(required("HUB_SERVICE_HOST"), os.environ.get("HUB_SERVICE_PORT_API") or "8081")  # noqa: F821

# The proxy runs in its own Deployment: the hub only tells it the routes.
c.ConfigurableHTTPProxy.should_start = False  # noqa: F821
c.ConfigurableHTTPProxy.api_url = "http://{}:{}".format(required("PROXY_SERVICE_HOST"), os.environ.get("PROXY_SERVICE_PORT_API") or "8001")  # noqa: F821
