"""The labs: each user's JupyterLab pod, in a namespace of the user's own (<hub namespace>-<user>,
made by NamespacedKubeSpawner with a dask ServiceAccount and a quota), with the fileserver's
exports mounted as mountpoints.json says, at the size the user picks on the spawn form.

What it reads:
- /opt/lsst/software/jupyterhub/mounts/mountpoints.json (ConfigMap fs-mounts): one entry per
  mount: mountpoint, mode (rw or ro), fileserver-host (default: EXTERNAL_FILESERVER_IP, else the
  fileserver Service's FILESERVER_SERVICE_HOST), fileserver-export (default /exports<mountpoint>),
  hostpath (a node folder instead), disabled;
- /opt/lsst/software/jupyterhub/resources/resourcemap.json (ConfigMap resourcemap): users and
  groups with a bigger default size or quota;
- the environment: LAB_IMAGE (one image for everyone), or LAB_REPO_HOST, LAB_REPO_OWNER and
  LAB_REPO_NAME (the repository whose tags the form offers: PREPULLER_EXPERIMENTALS, _DAILIES,
  _WEEKLIES, _RELEASES of each); the sizes (TINY_MAX_CPU, MB_PER_CPU, SIZE_INDEX, LAB_SIZE_RANGE);
  LAB_MEM_LIMIT, LAB_CPU_LIMIT, LAB_MEM_GUARANTEE, LAB_CPU_GUARANTEE for a lab without a size;
  LAB_IDLE_TIMEOUT, ALLOW_DASK_SPAWN, MAX_DASK_WORKERS, RESTRICT_LAB_NODES,
  RESTRICT_DASK_NODES, LAB_NODEJS_MAX_MEM, DEBUG, the routes and external URLs it passes on.
"""
import base64
import datetime
import json
import os

import namespacedkubespawner
from jupyterhubutils import SingletonScanner
from kubernetes.client import V1ResourceQuotaSpec

MOUNTPOINTS = "/opt/lsst/software/jupyterhub/mounts/mountpoints.json"
RESOURCE_MAP = "/opt/lsst/software/jupyterhub/resources/resourcemap.json"
SIZES = ["tiny", "small", "medium", "large"]


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value else default


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def sizes():
    """{size: {cpu, mem (MB), desc}}: tiny has TINY_MAX_CPU CPUs, each next size twice as many, and
    MB_PER_CPU of memory per CPU."""
    cpu = env_float("TINY_MAX_CPU", 0.5)
    per_cpu = env_int("MB_PER_CPU", 2048)
    found = {}
    for name in SIZES:
        found[name] = {"cpu": cpu, "mem": int(cpu * per_cpu), "desc": "{} ({:.2f} CPU, {}M RAM)".format(name.title(), cpu, int(cpu * per_cpu))}
        cpu *= 2
    return found


class LSSTSpawner(namespacedkubespawner.NamespacedKubeSpawner):
    """NamespacedKubeSpawner with the LSST spawn form, mounts, sizes, quotas and lab environment."""

    # Labs start as the "provisionator" (769), which makes the user's account from EXTERNAL_UID.
    uid = 769
    gid = 769
    delete_namespace_on_stop = True
    delete_namespaced_pvs_on_stop = True
    enable_namespace_quotas = True
    # First pulls of the stack's images are slow.
    start_timeout = 60 * 15
    http_timeout = 60 * 15
    default_url = "/lab"
    image_pull_policy = "Always"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service_account = "dask" if os.environ.get("ALLOW_DASK_SPAWN") else None
        if os.environ.get("RESTRICT_LAB_NODES"):
            self.node_selector = {"jupyterlab": "ok"}
        self._quota = {}

    @property
    def events(self):
        """The events of this user's pod since the spawn began, oldest first: kubespawner's own,
        sorted so that it works on a current cluster. An event written through events.k8s.io (the
        scheduler's, since Kubernetes 1.19) has no lastTimestamp, only an eventTime, and
        kubespawner 0.10.1 sorts by lastTimestamp: on such an event the spawn failed after the pod
        had started, and the hub deleted the pod."""
        reflector = self.event_reflector
        if not reflector:
            return []
        epoch = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)

        def when(event):
            return event.last_timestamp or event.event_time or event.metadata.creation_timestamp or epoch

        found = []
        for event in sorted(reflector.resources.values(), key=when):
            if event.involved_object.name != self.pod_name:
                continue
            if self._last_event and event.metadata.uid == self._last_event:
                found = []
            else:
                found.append(event)
        return found

    # ---- the spawn form -----------------------------------------------------------------------

    def scanner(self):
        """The repository scanner (one per hub), or None with one LAB_IMAGE for everyone."""
        if os.environ.get("LAB_IMAGE"):
            return None
        return SingletonScanner(
            host=os.environ.get("LAB_REPO_HOST") or "hub.docker.com",
            owner=os.environ.get("LAB_REPO_OWNER") or "lsstsqre",
            name=os.environ.get("LAB_REPO_NAME") or "sciplat-lab",
            experimentals=env_int("PREPULLER_EXPERIMENTALS", 0),
            dailies=env_int("PREPULLER_DAILIES", 3),
            weeklies=env_int("PREPULLER_WEEKLIES", 2),
            releases=env_int("PREPULLER_RELEASES", 1),
            cachefile=os.path.join(os.environ.get("HOME", "/tmp"), "repo-cache.json"),
            debug=bool(os.environ.get("DEBUG")),
        )

    def size_index(self):
        return min(self.custom_resources().get("size_index") or env_int("SIZE_INDEX", 1), len(SIZES) - 1)

    @property
    def options_form(self):
        title = os.environ.get("LAB_SELECTOR_TITLE") or "Container Image Selector"
        form = ["<h3>{}</h3>".format(title), "<table><tr><th>Image</th><th>Size</th></tr><tr><td>"]
        scanner = self.scanner()
        if scanner:
            names, descriptions = scanner.extract_image_info()
            for index, (name, description) in enumerate(zip(names, descriptions)):
                form.append('<input type="radio" name="kernel_image" value="{}"{}> {}<br />'.format(name, ' checked="checked"' if index == 0 else "", description))
            if names:
                custom = names[0].split(":")[0] + ":__custom"
                form.append('<input type="radio" name="kernel_image" value="{}"> or the tag <select name="image_tag">'.format(custom))
                form.extend('<option value="{0}">{0}</option>'.format(tag) for tag in scanner.get_all_scan_results())
                form.append("</select><br />")
        else:
            form.append('<input type="hidden" name="kernel_image" value="{0}">{0}'.format(os.environ["LAB_IMAGE"]))
        form.append("</td><td>")
        default = SIZES[self.size_index()]
        for name, size in sizes().items():
            form.append('<input type="radio" name="size" value="{}"{}> {}<br />'.format(name, ' checked="checked"' if name == default else "", size["desc"]))
        form.append('</td></tr><tr><td colspan="2"><input type="checkbox" name="clear_dotlocal" value="true"> Clear <tt>.local</tt> (caution!)</td></tr></table>')
        return "\n".join(form)

    def options_from_form(self, formdata):
        options = {}
        for field in ("kernel_image", "size", "image_tag"):
            if formdata.get(field) and formdata[field][0]:
                options[field] = formdata[field][0]
        if formdata.get("clear_dotlocal"):
            options["clear_dotlocal"] = True
        return options

    # ---- the user's resources ---------------------------------------------------------------

    def user_groups(self):
        """The user's group names, from auth_state (set at login by the authenticator)."""
        return set(getattr(self, "_groups", None) or [])

    def custom_resources(self):
        """The biggest size index and quotas that resourcemap.json gives this user or their groups."""
        found = {"size_index": 0, "cpu_quota": 0, "mem_quota": 0}
        try:
            with open(RESOURCE_MAP) as text:
                entries = json.load(text)
        except (OSError, ValueError) as error:
            self.log.warning("No resource map: %s", error)
            return found
        groups = self.user_groups()
        for entry in entries:
            resources = entry.get("resources")
            if entry.get("disabled") or not resources:
                continue
            if entry.get("user") == self.user.name or entry.get("group") in groups:
                for field in found:
                    if isinstance(resources.get(field), int) and resources[field] > found[field]:
                        found[field] = resources[field]
        return found

    def get_resource_quota_spec(self):
        """Room for MAX_DASK_WORKERS workers (and the lab) of the largest size, unless the resource
        map gives the user more."""
        largest = sizes()[SIZES[-1]]
        machines = env_int("MAX_DASK_WORKERS", 25) + 1
        cpu = machines * largest["cpu"]
        hard = {"limits.cpu": str(int(cpu + 0.5)), "limits.memory": "{}Mi".format(int(machines * largest["mem"] + 0.5))}
        custom = self.custom_resources()
        if custom["cpu_quota"]:
            hard["limits.cpu"] = str(custom["cpu_quota"])
        if custom["mem_quota"]:
            hard["limits.memory"] = "{}Mi".format(custom["mem_quota"])
        self._quota = hard
        return V1ResourceQuotaSpec(hard=hard)

    # ---- the pod --------------------------------------------------------------------------------

    def lab_volumes(self):
        """The volumes and mounts of mountpoints.json: NFS from the fileserver, or a node folder."""
        with open(MOUNTPOINTS) as text:
            entries = json.load(text)
        server = os.environ.get("EXTERNAL_FILESERVER_IP") or os.environ.get("FILESERVER_SERVICE_HOST")
        volumes, mounts = [], []
        for entry in entries:
            if entry.get("disabled"):
                continue
            mountpoint = entry["mountpoint"] if entry["mountpoint"].startswith("/") else "/" + entry["mountpoint"]
            name = mountpoint[1:].replace("/", "-")
            read_only = (entry.get("mode") or "ro").lower() != "rw"
            if entry.get("hostpath"):
                volumes.append({"name": name, "hostPath": {"path": entry["hostpath"], "type": "Directory"}})
            else:
                host = entry.get("fileserver-host") or server
                if not host:
                    raise RuntimeError("mountpoint {} has no fileserver: set EXTERNAL_FILESERVER_IP".format(mountpoint))
                volumes.append({"name": name, "nfs": {"server": host, "path": entry.get("fileserver-export") or "/exports" + mountpoint, "readOnly": read_only}})
            mounts.append({"name": name, "mountPath": mountpoint, **({"readOnly": True} if read_only else {})})
        return volumes, mounts

    async def get_pod_manifest(self):
        auth_state = await self.user.get_auth_state() or {}
        self._groups = list((auth_state.get("groups") or {}).keys())
        options = self.user_options or {}
        image = options.get("kernel_image") or os.environ.get("LAB_IMAGE") or "lsstsqre/sciplat-lab:latest"
        repository, _, tag = image.partition(":")
        tag = tag or "latest"
        scanner = self.scanner()
        if scanner and (tag == "recommended" or tag.startswith("latest")):
            tag = scanner.resolve_tag(tag) or tag
        if tag == "__custom":
            tag = options.get("image_tag") or "latest"
        self.image = "{}:{}".format(repository, tag)

        size = sizes().get(options.get("size") or "")
        if size:
            self.mem_limit = "{}M".format(size["mem"])
            self.cpu_limit = size["cpu"]
        else:
            self.mem_limit = os.environ.get("LAB_MEM_LIMIT") or "2048M"
            self.cpu_limit = env_float("LAB_CPU_LIMIT", 1.0)
        if size and options.get("size") != "tiny":
            spread = env_float("LAB_SIZE_RANGE", 4.0)
            self.mem_guarantee = "{}M".format(int(size["mem"] / spread))
            self.cpu_guarantee = size["cpu"] / spread
        else:
            self.mem_guarantee = os.environ.get("LAB_MEM_GUARANTEE") or "64K"
            self.cpu_guarantee = env_float("LAB_CPU_GUARANTEE", 0.02)

        # The pod's name says whose lab and which tag: nb-<user>-<tag> for sciplat-lab.
        short = repository.split("/")[-1]
        self.pod_name = self._expand_user_properties(("nb" if short == "sciplat-lab" else short) + "-{username}-" + tag.replace("_", "-"))
        self.volumes, self.volume_mounts = self.lab_volumes()
        self.environment.update(self.lab_environment(options))
        if not self.environment.get("EXTERNAL_UID"):
            raise ValueError("EXTERNAL_UID is not set: the authenticator gave the lab no identity")
        return await super().get_pod_manifest()

    def lab_environment(self, options):
        """What the lab is told: its limits, its routes and URLs, its dask volumes."""
        route = (os.environ.get("HUB_ROUTE") or "/").rstrip("/") or "/"
        hub_url = os.environ.get("EXTERNAL_HUB_URL") or (os.environ.get("OAUTH_CALLBACK_URL") or "").replace("/hub/oauth_callback", "")
        instance_url = os.environ.get("EXTERNAL_INSTANCE_URL") or (hub_url[: -len(route)] if route != "/" and hub_url.endswith(route) else hub_url)
        environment = {
            "EXTERNAL_URL": hub_url,
            "EXTERNAL_HUB_URL": hub_url,
            "EXTERNAL_INSTANCE_URL": instance_url,
            "HUB_ROUTE": route,
            "FIREFLY_ROUTE": os.environ.get("FIREFLY_ROUTE") or "/firefly/",
            "JS9_ROUTE": os.environ.get("JS9_ROUTE") or "/js9",
            "API_ROUTE": os.environ.get("API_ROUTE") or "/api",
            "TAP_ROUTE": os.environ.get("TAP_ROUTE") or "/api/tap",
            "SODA_ROUTE": os.environ.get("SODA_ROUTE") or "/api/image/soda",
            "CPU_LIMIT": str(self.cpu_limit),
            "MEM_LIMIT": str(self.mem_limit),
            "DASK_VOLUME_B64": base64.b64encode(json.dumps({"volumes": self.volumes, "volumeMounts": self.volume_mounts}).encode()).decode(),
        }
        idle = env_int("LAB_IDLE_TIMEOUT", 43200)
        if idle > 0:
            environment["JUPYTERLAB_IDLE_TIMEOUT"] = str(idle)
        for name in ("DEBUG", "AUTO_REPO_URLS", "EXTERNAL_FIREFLY_URL", "EXTERNAL_JS9_URL", "EXTERNAL_API_URL", "EXTERNAL_TAP_URL", "EXTERNAL_SODA_URL"):
            if os.environ.get(name):
                environment[name] = os.environ[name]
        if os.environ.get("RESTRICT_DASK_NODES"):
            environment["RESTRICT_DASK_NODES"] = "true"
        if os.environ.get("LAB_NODEJS_MAX_MEM"):
            environment["NODE_OPTIONS"] = "--max-old-space-size=" + os.environ["LAB_NODEJS_MAX_MEM"]
        if options.get("clear_dotlocal"):
            environment["CLEAR_DOTLOCAL"] = "true"
        if self._quota:
            environment["NAMESPACE_CPU_LIMIT"] = self._quota["limits.cpu"]
            environment["NAMESPACE_MEM_LIMIT"] = self._quota["limits.memory"].replace("Mi", "M")
        return environment


c.JupyterHub.spawner_class = LSSTSpawner  # noqa: F821 (JupyterHub's configuration provides c)
