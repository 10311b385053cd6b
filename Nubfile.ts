// The LSST Science Platform Notebook Aspect ("nublado"), deployed by nub: every step of the manual
// as a typed task (tasks/), its manifests in templates/, its settings in nublado.yaml (or, with
// none, an example for nub's embedded sandbox cluster). `npx nub list` shows the targets.
import { cluster } from 'nub';
import { loadConfig } from './lib/config/nublado.ts';
import { nubladoTasks } from './tasks/platform.ts';

const root = import.meta.dirname;
const { config } = loadConfig(root, process.env);
// Credentials are not read here: each is read by the task that uses it, when a run needs it
// (tasks/credentials.ts), so `nub list`, `nub graph` and `nub destroy --dry-run` need none.
const nublado = nubladoTasks({ config, root });

// The cluster named by nublado.yaml (kubernetes.context); with none, nub uses its sandbox.
export const target = config.kubernetes ? cluster(config.kubernetes) : undefined;

export const { all, ingress, dns, tls, fileserver, keepalive, hub, proxy, rotateHubKey } = nublado;
// Optional components: exported when the configuration switches them on.
export const { firefly, prepuller, landing, logging } = nublado as Partial<typeof nublado>;
