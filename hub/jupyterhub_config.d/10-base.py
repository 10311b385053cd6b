# Loaded first (files load in lexical order): the hub's own settings.
import os

c.JupyterHub.ip = "0.0.0.0"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.base_url = os.environ.get("HUB_ROUTE", "/nb")
c.JupyterHub.db_url = os.environ["SESSION_DB_URL"]
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://{}:8001".format(os.environ["PROXY_SERVICE_HOST"])
