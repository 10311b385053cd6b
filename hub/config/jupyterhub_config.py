"""nublado's JupyterHub configuration, as the hub image runs it:

    jupyterhub -f /opt/lsst/software/jupyterhub/config/jupyterhub_config.py

This file only loads the others beside it, named NN-what.py, in lexical order (lower numbers
first): 10-authenticator.py (who may log in), 20-spawner.py (the labs), 30-environment.py (the
hub's own settings, from the environment the Deployment gives it). All of them come from the
ConfigMap hub-config, made by nub from hub/config/; a change to any rolls the hub.
"""
import os
from glob import glob

here = os.path.dirname(os.path.abspath(__file__))
for path in sorted(glob(os.path.join(here, "[0-9][0-9]-*.py"))):
    load_subconfig(path)  # noqa: F821 (JupyterHub's configuration loader provides it)
