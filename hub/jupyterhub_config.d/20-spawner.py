# Labs run as pods in the hub's namespace, with the NFS exports mounted.
import os

c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = os.environ["K8S_NAMESPACE"]
c.KubeSpawner.image = os.environ["LAB_IMAGE"]
c.KubeSpawner.mem_limit = os.environ.get("LAB_MEM_LIMIT", "3G")
c.KubeSpawner.cpu_limit = float(os.environ.get("LAB_CPU_LIMIT", "2.0"))
c.KubeSpawner.mem_guarantee = os.environ.get("LAB_MEM_GUARANTEE", "512M")
c.KubeSpawner.cpu_guarantee = float(os.environ.get("LAB_CPU_GUARANTEE", "0.5"))
