/**
 * The kube benchmark: the nublado deployment on a real control plane (cluster/control-plane.ts:
 * kube-apiserver, kube-controller-manager, kube-scheduler and etcd of Kubernetes v1.36.3, kwok's
 * nodes making pods Ready 1 s after they are scheduled, LoadBalancer addresses 2 s after the
 * Service), against doing the same with the kubectl of the same release, the manual's way.
 *
 *   a. full deployment from an empty cluster and an empty state: `nub run all --json` against the
 *      manual sequence (one `kubectl apply --server-side -f` per step, in the manual's order, a
 *      `kubectl rollout status` after each step with Deployments, polls for the fileserver's
 *      ClusterIP and the LoadBalancer's address) (goal <= 0.5x: the graph runs what the manual
 *      does one after another side by side)
 *   b. the same full deployment, wall time against its critical path (the longest chain of task
 *      durations through the graph) (goal <= 1.15x)
 *   c. checked no-op after the deployment: `nub run all` (drift checks: one LIST per kind and
 *      namespace), against `kubectl diff --server-side` of every manifest in one invocation, after
 *      the manual sequence (goal <= 1x)
 *
 * plus: the manual sequence step by step, a variant of it that checks every rollout once at the
 * end, how soon each side noticed a finished rollout, where nub's full deployment and its checked
 * no-op spend their time, and npx's own start-up (`npx --no-install nub --version` minus `node
 * bin/nub.js --version`, round-robin: the same command, with and without npx in front).
 *
 * Why the baseline checks each step's rollouts before the next step: nub's apply tasks each wait
 * for their Deployments (tasks/*.ts `rollouts`), so a full run ends with every Deployment
 * available, and the manual sequence must end there too; the manual's steps come one after
 * another, each component up before the next (the keepalive mounts the fileserver's exports, the
 * proxy needs the hub). The manual's own text waits only for the two addresses: the variant that
 * checks every rollout once, after the last apply, is the least a sequential kubectl deployment
 * ending in the same state can take, and is shown beside it.
 *
 * The checked no-op's baseline is one `kubectl diff` over every manifest: one process and one
 * discovery, as nub's one process; a kubectl per step would add eleven start-ups to its side.
 *
 * Each round starts a fresh control plane for each of nub and the manual sequence (about 10 s,
 * not timed), one at a time, the order alternating between rounds.
 *
 * The manual's manifests are nub's own, so that both apply exactly the same objects: one untimed
 * `nub run all` on a throw-away control plane first, then every object each task applied (its
 * --json output lists them) read back with `kubectl get --show-managed-fields` and cut down to the
 * fields nub's server-side apply owns (its managedFields entry: manager nub, operation Apply),
 * which is exactly what nub sent, minus zero values the server dropped, with the server's spelling
 * of a value (`3` for `3.0`). Secrets included (Secret tls, hub, firefly: nub made them on that
 * run). The fileserver's ClusterIP of that run is replaced by `{{NFS_SERVER_IP_ADDRESS}}`, which
 * the manual sequence substitutes with sed once its poll has found the new cluster's ClusterIP,
 * as the manual does with its templates. A `kubectl diff` of those manifests against that nub run
 * must find no difference: the dump is checked before anything is timed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { auditEvents, builtNubkube, mutatingRequests, startControlPlane, type AuditEvent, type Build, type ControlPlane } from '../cluster/control-plane.ts';
import { criticalPath, readRunEvents, type CriticalPath, type PathNode, type RunEvents } from './lib/critical-path.ts';
import { formatMs, formatPercent, formatRatio } from './lib/format.ts';
import { runAsync, type AsyncCommandSpec, type AsyncRun } from './lib/spawn.ts';
import { childEnv, runOnce, statsOf, timeRoundRobin, type CommandSpec, type Stats } from './lib/timing.ts';
import type { BenchContext, BenchGroup, Breakdown, Comparison, GroupResult } from './lib/types.ts';
import { commandLine, gapBefore, loadGraph, makeNubladoProject, nubEnv } from './nublado.ts';

/**
 * nub's example configuration (lib/config/nublado.ts sandboxExample: the one used when there is no
 * nublado.yaml) with two values fixed: the RFC 7919 group for the DH parameters, so that no
 * safe-prime search (2 to 45 s, at random) muddies nub's figures while the manual sequence gets
 * them made, and the prepuller's minute, so that every run renders the same CronJob. No context:
 * every run names its control plane with --kubeconfig and --context.
 */
const nubladoYaml = `hostname: nublado.sandbox.test
oauth:
  provider: jwt
  jwtCertificate: hub/example-signing-certificate.crt
tls:
  source: self-signed
dhparam: { group: ffdhe2048 }
prepuller: { minute: 10 }
`;
const planeOptions = { podReadyDelayMs: 1000, loadBalancerDelayMs: 2000 };
/** In the manifests, where the fileserver's ClusterIP goes (the manual's template variable). */
const nfsPlaceholder = '{{NFS_SERVER_IP_ADDRESS}}';
/** Between two looks of a poll in the manual sequence (nub's waits start at 200 ms too). */
const pollSeconds = 0.2;

/**
 * The manual's steps, in the old deployment tool's order (../shared/nublado-facts.md, "Order"),
 * with the namespace and the ingress first as the manual has them: each step applies what the
 * named nub tasks applied, then waits for the rollouts nub's task waits for (tasks/*.ts
 * `rollouts`). `ip` marks the step after which the fileserver's ClusterIP is polled for.
 */
interface ManualStep {
	name: string;
	tasks: string[];
	rollouts: Array<{ kind: 'deployment' | 'daemonset'; namespace: string; name: string }>;
	waitForClusterIp?: boolean;
}

function manualSteps(namespace: string): ManualStep[] {
	const deployment = (name: string, ns = namespace) => ({ kind: 'deployment' as const, namespace: ns, name });
	return [
		{ name: 'namespace', tasks: ['namespace'], rollouts: [] },
		{ name: 'ingress', tasks: ['ingress-controller'], rollouts: [deployment('nginx-ingress-controller', 'ingress-nginx')] },
		{ name: 'logging', tasks: ['logstashrmq', 'filebeat'], rollouts: [deployment('logstashrmq'), { kind: 'daemonset', namespace, name: 'filebeat' }] },
		{ name: 'fileserver-service', tasks: ['fileserver-service'], rollouts: [], waitForClusterIp: true },
		{ name: 'fileserver', tasks: ['fileserver-deployment'], rollouts: [deployment('fileserver')] },
		{ name: 'nfs-volumes', tasks: ['nfs-volumes'], rollouts: [] },
		{ name: 'keepalive', tasks: ['keepalive'], rollouts: [deployment('keepalive')] },
		{ name: 'prepuller', tasks: ['prepuller'], rollouts: [] },
		{ name: 'tls', tasks: ['tls'], rollouts: [] },
		{ name: 'firefly', tasks: ['firefly'], rollouts: [deployment('firefly')] },
		// The proxy (with Secret hub and both Services) before the hub: JupyterHub 1.0 exits at start
		// when the proxy does not answer, so a rollout check of the hub before the proxy never ends.
		{ name: 'proxy', tasks: ['proxy'], rollouts: [deployment('proxy')] },
		{ name: 'hub', tasks: ['hub'], rollouts: [deployment('hub')] },
		{ name: 'landing', tasks: ['landing'], rollouts: [deployment('landing-page')] },
	];
}

/** A Kubernetes object as JSON. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A step's manifest, ready to write: objects in the order nub applied them. */
interface StepManifest {
	step: ManualStep;
	file: string;
	objects: JsonObject[];
	/** Occurrences of the placeholder: the file is rendered (sed) after the ClusterIP poll. */
	placeholders: number;
}

/** One timed full deployment by nub, read. */
interface NubFullRun {
	wallMs: number;
	events: RunEvents;
	path: CriticalPath;
	startMs: number;
	runMs: number;
	chainGapsMs: number;
	endMs: number;
	exitMs: number;
	/** Requests by the operator that changed the cluster. */
	writes: number;
	/** Requests by the operator, all. */
	requests: number;
	/** Spawn to the first request the API server received from it. */
	firstRequestMs: number;
	rollouts: RolloutNotice[];
}

/** One timed manual sequence, read. */
interface ManualRun {
	wallMs: number;
	/** Per step: its kubectl apply (and the sed before it), and its waits (polls, rollouts). */
	steps: Array<{ name: string; applyMs: number; waitMs: number }>;
	writes: number;
	requests: number;
	rollouts: RolloutNotice[];
}

/**
 * How soon a waiter noticed a finished rollout, from the audit log: from the deployment
 * controller's last status update of the Deployment before the waiter's last request about it
 * ended (the update that made it available, or a later one) to the end of that request (nub: the
 * GET of a poll that saw it; kubectl rollout status: its watch, closed once it saw it).
 */
interface RolloutNotice {
	name: string;
	noticedAfterMs: number;
	/** The waiter's requests about the Deployment (nub: a GET per look). */
	requests: number;
}

/** One checked no-op with --json, read against the audit log: where its time went. */
interface NoopPhases {
	wallMs: number;
	/** Spawn to the first request the API server received from it. */
	toFirstRequestMs: number;
	/** The first request received to the last one answered: the checks' reads. */
	requestsMs: number;
	requests: number;
	lists: number;
	/** The last answer to the run-start line (the checks judged, the run decided). */
	toRunStartMs: number;
	/** The run-start line to the summary line (every task reported cached). */
	reportMs: number;
	/** The summary line to the process closed. */
	exitMs: number;
}

export const kubeBench: BenchGroup = async context => {
	const { repoRoot, repetitions, log } = context;
	const build = builtNubkube();
	if (!build) throw new Error('the control plane is not built: npm run cluster -- build (about 10 minutes the first time)');
	const nubBin = join(repoRoot, 'bin', 'nub.js');
	const work = context.tempDir();

	// --- Project, graph -------------------------------------------------------------------------
	const project = makeNubladoProject(context, nubladoYaml);
	// As `npm install` leaves it, for npx.
	mkdirSync(join(project, 'node_modules', '.bin'));
	symlinkSync('../nub/bin/nub.js', join(project, 'node_modules', '.bin', 'nub'));
	log(`project: ${project}`);
	const nodes = await loadGraph(project);
	log(`graph of all: ${nodes.length} tasks, ${nodes.reduce((sum, node) => sum + node.needs.length, 0)} edges`);
	const env = nubEnv();
	const kubectlEnv = childEnv();
	delete kubectlEnv.KUBECONFIG;
	delete kubectlEnv.KUBECTL_EXTERNAL_DIFF;
	const planes = new PlaneStarter(build, work, log);

	const nubSpec = (plane: ControlPlane, label: string, args: string[], check?: AsyncCommandSpec['check']): AsyncCommandSpec => ({
		label,
		command: process.execPath,
		args: [nubBin, ...args, '--kubeconfig', plane.kubeconfig, '--context', plane.context],
		cwd: project,
		env,
		...(check ? { check } : {}),
	});
	const fullSpec = (plane: ControlPlane) => nubSpec(plane, 'nub run all --json (full)', ['run', 'all', '--json'], run => checkFullRun(run, nodes));
	const noopCheck = (run: AsyncRun) => {
		const last = run.stdout.trimEnd().split('\n').pop() ?? '';
		return new RegExp(`^${nodes.length} cached in \\d`).test(last) ? undefined : `expected the summary "${nodes.length} cached in ...", got "${last}"`;
	};
	const noopSpec = (plane: ControlPlane) => nubSpec(plane, 'nub run all (no-op, checked)', ['run', 'all'], noopCheck);
	const noopJsonSpec = (plane: ControlPlane) =>
		nubSpec(plane, 'nub run all --json (no-op, checked)', ['run', 'all', '--json'], run => {
			const summary = readRunEvents(run.lines).summary;
			return summary.cached.length === nodes.length ? undefined : `expected all ${nodes.length} tasks cached, got ${summary.cached.length}`;
		});
	// The full audit: every task's objects dry-run and compared, which after the deployment must find nothing to change.
	const auditSpec = (plane: ControlPlane) =>
		nubSpec(plane, 'nub plan all --diff --all (full audit)', ['plan', 'all', '--diff', '--all', '--detailed-exitcode'], run => {
			const last = run.stdout.trimEnd().split('\n').pop() ?? '';
			return /^objects: 0 to create, 0 to update, 0 to delete, \d+ unchanged$/.test(last) ? undefined : `expected every object unchanged, got "${last}"`;
		});
	const freshState = () => rmSync(join(project, '.nub'), { recursive: true, force: true });

	// --- The manifests, from one nub run (untimed; it also warms the Nubfile's bundle) -------------
	log('manifests: one nub run all on a throw-away control plane, its objects read back');
	const dumpPlane = await planes.start('dump');
	let manifests: StepManifest[];
	let dumpIp: string;
	try {
		freshState();
		const run = await runAsync(fullSpec(dumpPlane));
		const events = readRunEvents(run.lines);
		log(`    nub run all ${formatMs(run.ms)}`);
		({ manifests, nfsIp: dumpIp } = dumpManifests(events, outputsOf(run), dumpPlane, build, work, kubectlEnv));
		for (const { step, file, objects, placeholders } of manifests) {
			log(`    ${file}: ${objects.length} objects${placeholders > 0 ? `, the ClusterIP ${placeholders} times` : ''}${step.rollouts.length > 0 ? `; then rollout of ${step.rollouts.map(r => r.name).join(', ')}` : ''}`);
		}
		// The dump must be what nub applied: rendered with this cluster's ClusterIP, kubectl diff
		// finds nothing to change (it exits 1 when it does).
		const rendered = join(work, 'dump-check');
		mkdirSync(rendered);
		const files = manifests.map(manifest => {
			const file = join(rendered, manifest.file);
			writeFileSync(file, readFileSync(join(work, 'manifests', manifest.file), 'utf8').split(nfsPlaceholder).join(dumpIp), { mode: 0o600 });
			return file;
		});
		await runAsync(kubectlDiffSpec(build, dumpPlane, files, join(work, 'dump-cache'), kubectlEnv, 'kubectl diff of the dumped manifests against the nub run they came from'));
		log('    kubectl diff: the manifests are what nub applied');
	} finally {
		await planes.stop(dumpPlane);
	}
	const objectCount = manifests.reduce((sum, manifest) => sum + manifest.objects.length, 0);
	const rolloutNames = manifests.flatMap(manifest => manifest.step.rollouts.filter(r => r.kind === 'deployment').map(r => r.name));
	const scripts = {
		perStep: writeManualScript(work, manifests, 'manual-per-step.sh', false),
		atEnd: writeManualScript(work, manifests, 'manual-at-end.sh', true),
	};

	// --- Start-up: Node, nub, the Nubfile, npx --------------------------------------------------------
	// The pieces of the checked no-op's start, each a separate process, timed round-robin in each
	// round right after that no-op (the control plane still up), so that they see the same load.
	const startupSpecs: CommandSpec[] = [
		{ label: 'node -e 0', command: process.execPath, args: ['-e', '0'], cwd: project, env },
		{ label: 'node bin/nub.js --version', command: process.execPath, args: [nubBin, '--version'], cwd: project, env },
		{ label: 'node bin/nub.js list', command: process.execPath, args: [nubBin, 'list'], cwd: project, env },
		// What a checked run loads before its first request, as nub loads it: lib/k8s/client.ts imports
		// lib/k8s/client-node.ts, compiled with what it needs of the package into dist/.
		{ label: 'node: import dist/k8s/client-node.js', command: process.execPath, args: ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'k8s', 'client-node.js')).href)})`], cwd: repoRoot, env },
		{
			label: 'npx --no-install nub --version',
			command: 'npx',
			args: ['--no-install', 'nub', '--version'],
			cwd: project,
			// Never the registry: nub is found in node_modules/.bin, and npm stays offline.
			env: { ...env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
			check: result => (result.stdout.trim() === runOnce({ label: 'nub --version', command: process.execPath, args: [nubBin, '--version'], env }).result.stdout.trim() ? undefined : `npx ran something else: ${result.stdout.trim()}`),
		},
	];
	// Cheap, and subtracted from one another: more runs than the rest (at least 10 each).
	const startupPasses = Math.ceil(Math.max(2 * repetitions, 10) / repetitions);
	const startupSamples: number[][] = startupSpecs.map(() => []);
	const timeStartup = (round: number) => {
		const stats = timeRoundRobin(startupSpecs, { repetitions: startupPasses, warmups: round === 0 ? 1 : 0 });
		stats.forEach((stat, i) => startupSamples[i]!.push(...stat.samples));
		log(`    start-up pieces [${round + 1}/${repetitions}]: ${startupSpecs.map((spec, i) => `${spec.label} ${formatMs(stats[i]!.median)}`).join('; ')}`);
	};

	// --- Rounds ---------------------------------------------------------------------------------
	const fullRuns: NubFullRun[] = [];
	const noops: number[] = [];
	const noopPhases: NoopPhases[] = [];
	const manualRuns: ManualRun[] = [];
	const atEndRuns: ManualRun[] = [];
	const diffs: number[] = [];
	const diffRequests: number[] = [];
	const audits: number[] = [];
	let lastAuditSpec: AsyncCommandSpec | undefined;
	let lastDiffSpec: AsyncCommandSpec | undefined;
	let lastFullSpec: AsyncCommandSpec | undefined;
	let lastNoopSpec: AsyncCommandSpec | undefined;

	const nubRound = async (round: number) => {
		const plane = await planes.start(`nub ${round + 1}`);
		try {
			freshState();
			const spec = fullSpec(plane);
			lastFullSpec = spec;
			const audit = new AuditCursor(plane);
			const spawnedAt = performance.timeOrigin + performance.now();
			const run = await runAsync(spec);
			const events = audit.events();
			const writes = audit.writes().length;
			if (writes === 0) throw new Error(`${spec.label}: the audit log shows no write by ${plane.operatorUser}: nub did not deploy to this control plane`);
			const mine = events.filter(event => event.user.username === plane.operatorUser) as TimedAuditEvent[];
			const firstRequestMs = Math.min(...mine.map(event => Date.parse(event.requestReceivedTimestamp!))) - spawnedAt;
			const full = readNubFullRun(run, nodes, writes, mine.length, firstRequestMs, rolloutNotices(events, plane.operatorUser, rolloutNames));
			fullRuns.push(full);
			log(`    ${spec.label} [${round + 1}/${repetitions}] ${formatMs(full.wallMs)}; critical path ${formatMs(full.path.totalMs)}, ${formatRatio(full.wallMs / full.path.totalMs)}; ${writes} writes`);

			// The checked no-op and the full audit: each must write nothing.
			const readOnly = async (spec: AsyncCommandSpec, times: number[]) => {
				const cursor = new AuditCursor(plane);
				const result = await runAsync(spec);
				cursor.expectNoWrites(spec.label);
				times.push(result.ms);
				log(`    ${spec.label} [${round + 1}/${repetitions}] ${formatMs(result.ms)}`);
			};
			lastNoopSpec = noopSpec(plane);
			await readOnly(lastNoopSpec, noops);
			lastAuditSpec = auditSpec(plane);
			await readOnly(lastAuditSpec, audits);

			// The same no-op with --json, for where its time goes (its requests' times from the audit log).
			const jsonSpec = noopJsonSpec(plane);
			const jsonAudit = new AuditCursor(plane);
			const jsonSpawnedAt = performance.timeOrigin + performance.now();
			const jsonRun = await runAsync(jsonSpec);
			jsonAudit.expectNoWrites(jsonSpec.label);
			const phases = readNoopPhases(jsonRun, jsonSpawnedAt, jsonAudit.events().filter(event => event.user.username === plane.operatorUser));
			noopPhases.push(phases);
			log(`    ${jsonSpec.label} [${round + 1}/${repetitions}] ${formatMs(jsonRun.ms)}: first request at ${formatMs(phases.toFirstRequestMs)}, ${phases.requests} requests in ${formatMs(phases.requestsMs)}`);
			timeStartup(round);
		} finally {
			await planes.stop(plane);
		}
	};
	const manualRound = async (round: number, variant: 'perStep' | 'atEnd') => {
		const plane = await planes.start(`manual ${variant === 'perStep' ? '' : 'rollouts at the end '}${round + 1}`);
		try {
			const runDir = join(work, `run-${variant}-${round}`);
			mkdirSync(runDir);
			const cache = join(runDir, 'kubectl-cache');
			const spec = manualSpec(build, plane, scripts[variant], runDir, cache, kubectlEnv, variant);
			const audit = new AuditCursor(plane);
			const run = await runAsync(spec);
			const events = audit.events();
			const writes = audit.writes().length;
			if (writes !== objectCount) throw new Error(`${spec.label}: ${writes} writes for ${objectCount} objects (one server-side apply each)`);
			const manual = readManualRun(run, writes, events.filter(event => event.user.username === plane.operatorUser).length, rolloutNotices(events, plane.operatorUser, rolloutNames));
			(variant === 'perStep' ? manualRuns : atEndRuns).push(manual);
			log(`    ${spec.label} [${round + 1}/${repetitions}] ${formatMs(manual.wallMs)}; ${writes} writes`);
			if (variant === 'atEnd') return;

			// The manual's checked no-op: kubectl diff of every manifest (as rendered for this
			// cluster), one invocation, with the discovery cache the deployment left.
			const files = manifests.map(manifest => (manifest.placeholders > 0 ? join(runDir, manifest.file) : join(work, 'manifests', manifest.file)));
			const diff = kubectlDiffSpec(build, plane, files, cache, kubectlEnv, 'kubectl diff --server-side (no-op, checked)');
			lastDiffSpec = diff;
			const diffAudit = new AuditCursor(plane);
			const diffRun = await runAsync(diff);
			diffAudit.expectNoWrites(diff.label);
			diffs.push(diffRun.ms);
			diffRequests.push(diffAudit.events().filter(event => event.user.username === plane.operatorUser).length);
			log(`    ${diff.label} [${round + 1}/${repetitions}] ${formatMs(diffRun.ms)}`);
		} finally {
			await planes.stop(plane);
		}
	};

	log(`${repetitions} rounds: each on fresh control planes (started and stopped untimed), nub first in odd rounds, the manual sequence first in even ones`);
	for (let round = 0; round < repetitions; round++) {
		const order = round % 2 === 0 ? ['nub', 'manual', 'atEnd'] : ['manual', 'atEnd', 'nub'];
		for (const which of order) {
			if (which === 'nub') await nubRound(round);
			else await manualRound(round, which === 'manual' ? 'perStep' : 'atEnd');
		}
	}

	const [nodeStats, versionStats, listStats, clientStats, npxStats] = startupSamples.map(samples => statsOf(samples)) as [Stats, Stats, Stats, Stats, Stats];

	// --- Results --------------------------------------------------------------------------------
	const fullStats = statsOf(fullRuns.map(run => run.wallMs));
	const pathStats = statsOf(fullRuns.map(run => run.path.totalMs));
	const manualStats = statsOf(manualRuns.map(run => run.wallMs));
	const atEndStats = statsOf(atEndRuns.map(run => run.wallMs));
	const noopStats = statsOf(noops);
	const diffStats = statsOf(diffs);
	const npxOverhead = npxStats.median - versionStats.median;
	const comparisons: Comparison[] = [
		{
			name: 'a. full deployment, nub vs the manual sequence',
			baseline: { name: 'manual sequence (kubectl apply, rollout status per step)', command: `bash ${scripts.perStep} (kubectl ${build.release})`, stats: manualStats },
			subject: { name: 'nub run all --json (full)', command: lastFullSpec ? commandLine(lastFullSpec) : 'node bin/nub.js run all --json', stats: fullStats },
			goalMax: 0.5,
		},
		{
			name: 'b. full deployment, wall vs critical path',
			baseline: { name: 'critical path (longest chain of task durations)', command: 'the run\'s task-end durationMs, summed along the longest chain of the graph', stats: pathStats },
			subject: { name: 'nub run all --json (full)', command: lastFullSpec ? commandLine(lastFullSpec) : '', stats: fullStats },
			goalMax: 1.15,
		},
		{
			name: 'c. checked no-op, nub vs kubectl diff',
			baseline: { name: 'kubectl diff --server-side (every manifest, one invocation)', command: lastDiffSpec ? commandLine(lastDiffSpec) : 'kubectl diff', stats: diffStats },
			subject: { name: 'nub run all (no-op, checked)', command: lastNoopSpec ? commandLine(lastNoopSpec) : 'node bin/nub.js run all', stats: noopStats },
			goalMax: 1,
		},
		{
			name: 'd. full audit, nub plan --diff --all vs kubectl diff',
			baseline: { name: 'kubectl diff --server-side (every manifest, one invocation)', command: lastDiffSpec ? commandLine(lastDiffSpec) : 'kubectl diff', stats: diffStats },
			subject: { name: 'nub plan all --diff --all (every object dry-run and compared)', command: lastAuditSpec ? commandLine(lastAuditSpec) : 'node bin/nub.js plan all --diff --all', stats: statsOf(audits) },
			goalMax: 1.5,
		},
	];
	const breakdowns: Breakdown[] = [
		manualBreakdown(manualRuns, atEndRuns, fullStats),
		fullBreakdown(fullRuns, fullStats),
		pathBreakdown(fullRuns, nodes),
		rolloutBreakdown(fullRuns, manualRuns),
		noopBreakdown(noopPhases, noopStats, diffStats, diffRequests, { node: nodeStats, version: versionStats, list: listStats, client: clientStats, npx: npxStats }),
	];
	return {
		group: 'kube',
		comparisons,
		breakdowns,
		raw: {
			repetitions,
			node: process.version,
			kubernetes: build.release,
			nubladoYaml,
			controlPlane: planeOptions,
			planeStartMs: statsOf(planes.startTimes),
			graph: { tasks: nodes.length, nodes },
			manifests: manifests.map(({ step, file, objects, placeholders }) => ({ step: step.name, file, objects: objects.length, placeholders, rollouts: step.rollouts })),
			full: { ...fullStats, criticalPath: pathStats, runs: fullRuns.map(summarizeFull) },
			manual: { ...manualStats, runs: manualRuns },
			manualRolloutsAtEnd: { ...atEndStats, runs: atEndRuns },
			checkedNoop: { ...noopStats, phases: noopPhases },
			kubectlDiff: { ...diffStats, requests: diffRequests },
			startup: { node: nodeStats, nubVersion: versionStats, nubList: listStats, clientNodeImport: clientStats, npxVersion: npxStats, npxOverheadMs: npxOverhead },
		},
	} satisfies GroupResult;
};

/** Starts and stops control planes, one folder each under the bench's, and times their start. */
class PlaneStarter {
	readonly startTimes: number[] = [];
	constructor(
		private readonly build: Build,
		private readonly work: string,
		private readonly log: (line: string) => void,
	) {}

	async start(what: string): Promise<ControlPlane> {
		const dir = mkdtempSync(join(this.work, 'plane-'));
		const started = performance.now();
		const plane = await startControlPlane({ dir, build: this.build, ...planeOptions });
		const ms = performance.now() - started;
		this.startTimes.push(ms);
		this.log(`  control plane (${what}): ready in ${formatMs(ms)}, ${plane.server}`);
		return plane;
	}

	async stop(plane: ControlPlane): Promise<void> {
		await plane.stop();
		rmSync(plane.dir, { recursive: true, force: true });
	}
}

/** The audit log from now on. */
class AuditCursor {
	private readonly from: number;
	constructor(private readonly plane: ControlPlane) {
		this.from = auditEvents(plane.auditLog).length;
	}

	events(): AuditEvent[] {
		return auditEvents(this.plane.auditLog).slice(this.from);
	}

	/** The operator's requests that changed the cluster (dry runs excluded). */
	writes(): AuditEvent[] {
		return mutatingRequests(this.events(), this.plane.operatorUser);
	}

	/** A no-op that wrote is a broken measurement. */
	expectNoWrites(label: string): void {
		const writes = this.writes();
		if (writes.length > 0) throw new Error(`${label}: a no-op changed the cluster: ${writes.slice(0, 5).map(event => `${event.verb} ${event.requestURI}`).join('; ')}`);
	}
}

// --- The manifests ---------------------------------------------------------------------------------

/**
 * Every object each task of `events` applied, read back from `plane` and cut down to the fields
 * nub applied, grouped into the manual's steps and written to `work`/manifests/.
 */
function dumpManifests(events: RunEvents, outputs: ReadonlyMap<string, unknown>, plane: ControlPlane, build: Build, work: string, env: NodeJS.ProcessEnv): { manifests: StepManifest[]; nfsIp: string } {
	const nfsIp = outputs.get('nfs-service-ip');
	if (typeof nfsIp !== 'string' || !/^\d+\.\d+\.\d+\.\d+$/.test(nfsIp)) throw new Error(`nfs-service-ip gave ${JSON.stringify(nfsIp)}, not an IPv4 address`);
	const ingressIp = outputs.get('ingress-ip');
	const applied = new Map<string, Array<{ apiVersion: string; kind: string; name: string; namespace?: string }>>();
	for (const name of events.tasks) {
		const output = outputs.get(name) as { objects?: unknown } | undefined;
		if (output && typeof output === 'object' && Array.isArray(output.objects) && output.objects.length > 0) applied.set(name, output.objects as never);
	}
	const namespace = (applied.get('namespace')?.[0]?.name as string | undefined) ?? 'nublado';
	const steps = manualSteps(namespace);
	const known = new Set(steps.flatMap(step => step.tasks));
	const unknown = [...applied.keys()].filter(name => !known.has(name));
	if (unknown.length > 0) throw new Error(`tasks that applied objects but are in no step of the manual sequence (bench/kube.ts manualSteps): ${unknown.join(', ')}`);
	const dir = join(work, 'manifests');
	mkdirSync(dir, { recursive: true });
	const ipPattern = new RegExp(`(?<![\\d.])${nfsIp.replace(/\./g, '\\.')}(?![\\d])`, 'g');
	const manifests: StepManifest[] = [];
	for (const step of steps) {
		const refs = step.tasks.flatMap(name => applied.get(name) ?? []);
		if (refs.length === 0) continue;
		const refsFile = join(dir, `.refs-${step.name}.yaml`);
		writeFileSync(refsFile, refs.map(ref => stringify({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } })).join('---\n'));
		const { result } = runOnce({
			label: `kubectl get the objects of ${step.name}`,
			command: build.kubectl,
			args: ['--kubeconfig', plane.kubeconfig, '--context', plane.adminContext, 'get', '-f', refsFile, '-o', 'json', '--show-managed-fields'],
			env,
		});
		const got = JSON.parse(result.stdout) as JsonObject;
		const live = (got.kind === 'List' ? (got.items as JsonObject[]) : [got]).filter(Boolean);
		if (live.length !== refs.length) throw new Error(`kubectl get of ${step.name}'s ${refs.length} objects gave ${live.length}`);
		let placeholders = 0;
		const objects = live.map(object => {
			const fields = appliedFields(object, 'nub');
			const text = JSON.stringify(fields);
			if (typeof ingressIp === 'string' && text.includes(ingressIp)) throw new Error(`${describe(object)} holds the ingress address ${ingressIp}: the manual sequence would need it before its last step`);
			const count = text.match(ipPattern)?.length ?? 0;
			placeholders += count;
			return count === 0 ? fields : (JSON.parse(text.replace(ipPattern, nfsPlaceholder)) as JsonObject);
		});
		for (const rollout of step.rollouts) {
			const kind = rollout.kind === 'deployment' ? 'Deployment' : 'DaemonSet';
			if (!objects.some(object => object.kind === kind && (object.metadata as JsonObject).name === rollout.name)) throw new Error(`step ${step.name} waits for ${kind} ${rollout.name}, which nub's tasks did not apply`);
		}
		const file = `${String(manifests.length + 1).padStart(2, '0')}-${step.name}.yaml`;
		const manifest: StepManifest = { step, file, objects, placeholders };
		writeFileSync(join(dir, file), objects.map(object => stringify(object, { lineWidth: 0 })).join('---\n'), { mode: 0o600 });
		rmSync(refsFile);
		manifests.push(manifest);
	}
	const ipSteps = manifests.filter(manifest => manifest.placeholders > 0);
	if (ipSteps.length === 0) throw new Error(`the fileserver's ClusterIP ${nfsIp} is in none of the manifests`);
	const ipStep = manifests.findIndex(manifest => manifest.step.waitForClusterIp);
	if (ipSteps.some(manifest => manifests.indexOf(manifest) <= ipStep)) throw new Error('a manifest before the fileserver Service holds its ClusterIP');
	return { manifests, nfsIp };
}

/** Each task's output, from the task-end events of a `--json` run. */
function outputsOf(run: AsyncRun): Map<string, unknown> {
	const outputs = new Map<string, unknown>();
	for (const { text } of run.lines) {
		if (!text.startsWith('{"type":"task-end"')) continue;
		const event = JSON.parse(text) as { name: string; output?: unknown };
		outputs.set(event.name, event.output);
	}
	return outputs;
}

function describe(object: JsonObject): string {
	const metadata = object.metadata as JsonObject;
	return `${String(object.kind)} ${metadata.namespace ? `${String(metadata.namespace)}/` : ''}${String(metadata.name)}`;
}

/**
 * The object cut down to the fields `manager` owns through server-side apply (its managedFields
 * entries with operation Apply), plus what names it (apiVersion, kind, name, namespace).
 */
function appliedFields(object: JsonObject, manager: string): JsonObject {
	const metadata = object.metadata as JsonObject;
	const entries = ((metadata.managedFields ?? []) as JsonObject[]).filter(entry => entry.manager === manager && entry.operation === 'Apply' && !entry.subresource);
	// An apply of nothing but the object's name (a bare Namespace) leaves no managedFields entry.
	const trie: JsonObject = {};
	for (const entry of entries) mergeTrie(trie, entry.fieldsV1 as JsonObject);
	const picked = entries.length === 0 ? {} : (pick(object, trie) as JsonObject);
	const pickedMetadata = (picked.metadata ?? {}) as JsonObject;
	return {
		apiVersion: object.apiVersion!,
		kind: object.kind!,
		...picked,
		metadata: { name: metadata.name!, ...(metadata.namespace ? { namespace: metadata.namespace } : {}), ...pickedMetadata },
	};
}

function mergeTrie(into: JsonObject, from: JsonObject): void {
	for (const [key, value] of Object.entries(from)) {
		if (!(key in into)) into[key] = {};
		mergeTrie(into[key] as JsonObject, value as JsonObject);
	}
}

/** A trie node that owns its whole value (no owned field below it). */
function isLeaf(trie: JsonObject): boolean {
	return Object.keys(trie).every(key => key === '.');
}

/** The parts of `live` that `trie` (a FieldsV1 set: f:field, k:{key}, v:value, i:index) names. */
function pick(live: Json, trie: JsonObject): Json {
	if (isLeaf(trie)) return live;
	if (Array.isArray(live)) {
		const out: Json[] = [];
		live.forEach((item, index) => {
			for (const [key, child] of Object.entries(trie)) {
				if (!matchesItem(key, item, index)) continue;
				out.push(pick(item, child as JsonObject));
				return;
			}
		});
		return out;
	}
	if (live !== null && typeof live === 'object') {
		const out: JsonObject = {};
		for (const [key, child] of Object.entries(trie)) {
			if (!key.startsWith('f:')) continue;
			const name = key.slice(2);
			if (name in live) out[name] = pick(live[name]!, child as JsonObject);
		}
		return out;
	}
	return live;
}

function matchesItem(key: string, item: Json, index: number): boolean {
	if (key.startsWith('k:')) {
		const wanted = JSON.parse(key.slice(2)) as JsonObject;
		return item !== null && typeof item === 'object' && !Array.isArray(item) && Object.entries(wanted).every(([field, value]) => JSON.stringify(item[field]) === JSON.stringify(value));
	}
	if (key.startsWith('v:')) return JSON.stringify(JSON.parse(key.slice(2))) === JSON.stringify(item);
	if (key.startsWith('i:')) return Number(key.slice(2)) === index;
	return false;
}

// --- The manual sequence -------------------------------------------------------------------------

/**
 * The manual sequence as a bash script: for each step, `kubectl apply --server-side -f` its
 * manifest (rendered with sed first when it holds the fileserver's ClusterIP), then `kubectl
 * rollout status` of its Deployments; the fileserver's ClusterIP and, last, the ingress's
 * LoadBalancer address are polled with `kubectl get -o jsonpath` every 0.2 s, as the manual does
 * by hand. With `rolloutsAtEnd`, every rollout is checked once after the last apply instead (what
 * is left of the manual's own waits: none but the two addresses), so that both variants end with
 * every Deployment available, as nub's run does. It prints `step NAME` and `wait NAME` lines for
 * the breakdown.
 */
function writeManualScript(work: string, manifests: readonly StepManifest[], name: string, rolloutsAtEnd: boolean): string {
	const lines = [
		'#!/usr/bin/env bash',
		`# The nublado deployment the manual's way, written by bench/kube.ts: one kubectl apply per step in the`,
		`# manual's order${rolloutsAtEnd ? ', every rollout checked at the end' : ', each step\'s rollouts checked before the next step'}.`,
		'# Environment: KUBECTL, KUBECONFIG_FILE, KUBE_CONTEXT, KUBE_CACHE (kubectl\'s discovery cache), RUN_DIR (rendered files).',
		'set -euo pipefail',
		`manifests=${shellQuote(join(work, 'manifests'))}`,
		'k() { "$KUBECTL" --kubeconfig="$KUBECONFIG_FILE" --context="$KUBE_CONTEXT" --cache-dir="$KUBE_CACHE" "$@"; }',
		'# poll WHAT NAMESPACE SERVICE JSONPATH: prints the value once it is there (at most 2 minutes)',
		'poll() {',
		'  local value',
		`  for _ in $(seq ${Math.round(120 / pollSeconds)}); do`,
		'    value=$(k get service "$3" -n "$2" -o "jsonpath=$4")',
		'    if [ -n "$value" ]; then echo "$value"; return 0; fi',
		`    sleep ${pollSeconds}`,
		'  done',
		'  echo "timed out waiting for $1" >&2',
		'  return 1',
		'}',
	];
	const rollout = (r: ManualStep['rollouts'][number]) => `k rollout status -n ${r.namespace} ${r.kind}/${r.name} --timeout=120s`;
	for (const { step, file, objects, placeholders } of manifests) {
		lines.push(`echo "step ${step.name}"`);
		if (placeholders > 0) {
			lines.push(`sed "s/${nfsPlaceholder}/$nfs_ip/g" "$manifests/${file}" > "$RUN_DIR/${file}"`);
			lines.push(`k apply --server-side -f "$RUN_DIR/${file}"`);
		} else {
			lines.push(`k apply --server-side -f "$manifests/${file}"`);
		}
		if (step.waitForClusterIp) {
			const service = objects.find(object => object.kind === 'Service');
			if (!service) throw new Error(`step ${step.name} applies no Service whose ClusterIP to wait for`);
			const { name: serviceName, namespace } = service.metadata as JsonObject;
			lines.push(`echo "wait ${step.name}"`);
			lines.push(`nfs_ip=$(poll "the fileserver's ClusterIP" ${String(namespace)} ${String(serviceName)} '{.spec.clusterIP}')`);
		}
		if (!rolloutsAtEnd && step.rollouts.length > 0) {
			lines.push(`echo "wait ${step.name}"`);
			for (const r of step.rollouts) lines.push(rollout(r));
		}
	}
	if (rolloutsAtEnd) {
		lines.push('echo "step rollouts"', 'echo "wait rollouts"');
		for (const { step } of manifests) for (const r of step.rollouts) lines.push(rollout(r));
	}
	lines.push('echo "step ingress-address"', 'echo "wait ingress-address"');
	lines.push(`ingress_ip=$(poll "the ingress's LoadBalancer address" ingress-nginx ingress-nginx '{.status.loadBalancer.ingress[0].ip}')`);
	lines.push('echo "done: point the DNS record at $ingress_ip"');
	const file = join(work, name);
	writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o755 });
	return file;
}

function manualSpec(build: Build, plane: ControlPlane, script: string, runDir: string, cache: string, env: NodeJS.ProcessEnv, variant: 'perStep' | 'atEnd'): AsyncCommandSpec {
	return {
		label: variant === 'perStep' ? 'manual sequence (rollout status per step)' : 'manual sequence (rollouts at the end)',
		command: 'bash',
		args: [script],
		env: { ...env, KUBECTL: build.kubectl, KUBECONFIG_FILE: plane.kubeconfig, KUBE_CONTEXT: plane.context, KUBE_CACHE: cache, RUN_DIR: runDir },
		check: run => (/^done: point the DNS record at \d+\.\d+\.\d+\.\d+$/m.test(run.stdout) ? undefined : 'it did not end with the ingress address'),
	};
}

function kubectlDiffSpec(build: Build, plane: ControlPlane, files: readonly string[], cache: string, env: NodeJS.ProcessEnv, label: string): AsyncCommandSpec {
	return {
		label,
		command: build.kubectl,
		args: ['--kubeconfig', plane.kubeconfig, '--context', plane.context, '--cache-dir', cache, 'diff', '--server-side', ...files.flatMap(file => ['-f', file])],
		env,
		// kubectl diff exits 1 when it finds a difference: runAsync rejects it, as a broken measurement.
	};
}

function readManualRun(run: AsyncRun, writes: number, requests: number, rollouts: RolloutNotice[]): ManualRun {
	const marks = run.lines.filter(line => /^(step|wait) /.test(line.text));
	const steps: ManualRun['steps'] = [];
	for (let i = 0; i < marks.length; i++) {
		const [kind, name] = marks[i]!.text.split(' ') as [string, string];
		const end = marks[i + 1]?.atMs ?? run.ms;
		const ms = end - marks[i]!.atMs;
		if (kind === 'step') steps.push({ name, applyMs: ms, waitMs: 0 });
		else steps.at(-1)!.waitMs += ms;
	}
	return { wallMs: run.ms, steps, writes, requests, rollouts };
}

// --- nub's runs ------------------------------------------------------------------------------------

/** A full run must run every task of the graph, and all must succeed. */
function checkFullRun(run: AsyncRun, nodes: readonly PathNode[]): string | undefined {
	let events: RunEvents;
	try {
		events = readRunEvents(run.lines);
	} catch (error) {
		return `cannot read its --json output: ${(error as Error).message}`;
	}
	const expected = nodes.map(node => node.name).sort();
	const ran = [...events.tasks].sort();
	if (expected.join() !== ran.join()) return `it ran the tasks [${ran.join(', ')}], but the graph of all has [${expected.join(', ')}]`;
	const { succeeded, failed, cached } = events.summary;
	if (failed.length > 0 || cached.length > 0 || succeeded.length !== nodes.length) {
		return `expected all ${nodes.length} tasks to succeed, got ${succeeded.length} succeeded, ${cached.length} cached, failed: [${failed.join(', ')}]`;
	}
	return undefined;
}

function readNubFullRun(run: AsyncRun, nodes: readonly PathNode[], writes: number, requests: number, firstRequestMs: number, rollouts: RolloutNotice[]): NubFullRun {
	const events = readRunEvents(run.lines);
	const path = criticalPath(nodes, name => events.timings.get(name)?.durationMs ?? 0);
	const lastEndAtMs = Math.max(...[...events.timings.values()].map(timing => timing.endAtMs));
	// Lines are written once per turn of the event loop: the run-start line can arrive after the
	// first tasks were taken up (the secrets' synchronous work holds the loop). The run began at
	// the earlier of the two.
	const beganAtMs = Math.min(events.runStartAtMs, ...[...events.timings.values()].map(timing => timing.beganAtMs));
	const byName = new Map(nodes.map(node => [node.name, node]));
	let chainGapsMs = 0;
	for (const name of path.chain) chainGapsMs += gapBefore(name, byName, events);
	return {
		wallMs: run.ms,
		events,
		path,
		startMs: beganAtMs,
		runMs: lastEndAtMs - beganAtMs,
		chainGapsMs,
		endMs: events.summaryAtMs - lastEndAtMs,
		exitMs: run.ms - events.summaryAtMs,
		writes,
		requests,
		firstRequestMs,
		rollouts,
	};
}

function readNoopPhases(run: AsyncRun, spawnedAt: number, requests: readonly AuditEvent[]): NoopPhases {
	const events = readRunEvents(run.lines);
	const timed = requests as Array<AuditEvent & { requestReceivedTimestamp?: string; stageTimestamp?: string }>;
	if (timed.length === 0) throw new Error('the checked no-op sent no request: it checked nothing');
	const received = timed.map(event => Date.parse(event.requestReceivedTimestamp!) - spawnedAt);
	const answered = timed.map(event => Date.parse(event.stageTimestamp!) - spawnedAt);
	const first = Math.min(...received);
	const last = Math.max(...answered);
	return {
		wallMs: run.ms,
		toFirstRequestMs: first,
		requestsMs: last - first,
		requests: timed.length,
		lists: timed.filter(event => event.verb === 'list').length,
		toRunStartMs: events.runStartAtMs - last,
		reportMs: events.summaryAtMs - events.runStartAtMs,
		exitMs: run.ms - events.summaryAtMs,
	};
}

type TimedAuditEvent = AuditEvent & { stageTimestamp?: string; requestReceivedTimestamp?: string };

/** For each Deployment named, how soon `user` noticed its rollout had finished (see RolloutNotice). */
function rolloutNotices(events: readonly AuditEvent[], user: string, names: readonly string[]): RolloutNotice[] {
	const timed = events as readonly TimedAuditEvent[];
	return names.map(name => {
		const about = (event: TimedAuditEvent) =>
			event.objectRef?.resource === 'deployments' && (event.objectRef.name === name || event.requestURI.includes(`fieldSelector=metadata.name%3D${name}`));
		const asked = timed.filter(event => event.user.username === user && ['get', 'list', 'watch'].includes(event.verb) && about(event));
		if (asked.length === 0) throw new Error(`nothing waited for Deployment ${name}`);
		const seen = Math.max(...asked.map(event => Date.parse(event.stageTimestamp!)));
		const updates = timed
			.filter(event => event.user.username.endsWith(':deployment-controller') && event.verb === 'update' && event.objectRef?.subresource === 'status' && about(event))
			.map(event => Date.parse(event.stageTimestamp!))
			.filter(at => at <= seen);
		if (updates.length === 0) throw new Error(`no status update of Deployment ${name} before it was seen rolled out`);
		return { name, noticedAfterMs: seen - Math.max(...updates), requests: asked.length };
	});
}

// --- Breakdowns ------------------------------------------------------------------------------------

const medianOf = (values: number[]) => statsOf(values).median;

function manualBreakdown(perStep: readonly ManualRun[], atEnd: readonly ManualRun[], nubFull: Stats): Breakdown {
	const names = perStep[0]!.steps.map(step => step.name);
	const stepOf = (run: ManualRun, name: string) => run.steps.find(step => step.name === name);
	const rows = names.map(name => [
		name,
		formatMs(medianOf(perStep.map(run => stepOf(run, name)?.applyMs ?? 0))),
		formatMs(medianOf(perStep.map(run => stepOf(run, name)?.waitMs ?? 0))),
		formatMs(medianOf(atEnd.map(run => stepOf(run, name)?.applyMs ?? 0))),
		formatMs(medianOf(atEnd.map(run => stepOf(run, name)?.waitMs ?? 0))),
	]);
	rows.push(['rollouts (checked at the end)', 'n/a', 'n/a', formatMs(medianOf(atEnd.map(run => stepOf(run, 'rollouts')?.waitMs ?? 0))), 'n/a']);
	const applies = (run: ManualRun) => run.steps.reduce((sum, step) => sum + step.applyMs, 0);
	const waits = (run: ManualRun) => run.steps.reduce((sum, step) => sum + step.waitMs, 0);
	rows.push(['all applies (kubectl apply, sed)', formatMs(medianOf(perStep.map(applies))), '', formatMs(medianOf(atEnd.map(applies))), '']);
	rows.push(['all waits (polls, rollout status)', '', formatMs(medianOf(perStep.map(waits))), '', formatMs(medianOf(atEnd.map(waits)))]);
	const atEndWall = statsOf(atEnd.map(run => run.wallMs)).median;
	const perStepWall = statsOf(perStep.map(run => run.wallMs)).median;
	rows.push(['wall', formatMs(perStepWall), '', formatMs(atEndWall), '']);
	return {
		title: `The manual sequence step by step (medians of ${perStep.length} runs; from the arrival of the script's step lines)`,
		columns: ['step', 'per step: apply', 'per step: wait', 'at the end: apply', 'at the end: wait'],
		rows,
		notes: [
			'"apply": the step\'s kubectl apply --server-side (one process, discovery from its cache, one PATCH per object), and the sed before it.',
			'"wait": the ClusterIP poll after fileserver-service, each step\'s kubectl rollout status (per step), or every rollout after the last apply (at the end).',
			`nub's full deployment against each: ${formatRatio(nubFull.median / perStepWall)} of the per-step sequence (the baseline above), ${formatRatio(nubFull.median / atEndWall)} of the one that checks rollouts at the end.`,
		],
	};
}

function fullBreakdown(runs: readonly NubFullRun[], wallStats: Stats): Breakdown {
	const wall = wallStats.median;
	const row = (step: string, values: number[]) => {
		const stats = statsOf(values);
		return [step, formatMs(stats.median), formatMs(stats.min), formatMs(stats.max), formatPercent(stats.median, wall)];
	};
	return {
		title: `nub's full deployment: where the wall time goes (${runs.length} runs; times from the arrival of each --json line)`,
		columns: ['step', 'median', 'min', 'max', 'share of wall'],
		rows: [
			row('start: spawn to the first task taken up (Node, dist check, Nubfile, preflights, lock, state)', runs.map(run => run.startMs)),
			row('run: the first task taken up to the last task-end', runs.map(run => run.runMs)),
			row('  the first task taken up to the first API request (the Kubernetes client loaded, the secrets made)', runs.map(run => run.firstRequestMs - run.startMs)),
			row('  critical path (longest chain of task durations)', runs.map(run => run.path.totalMs)),
			row('  rest of the run (run minus critical path)', runs.map(run => run.runMs - run.path.totalMs)),
			row('    of which gaps on the chain (task taken up minus its last need\'s end)', runs.map(run => run.chainGapsMs)),
			row('end: last task-end to the summary line', runs.map(run => run.endMs)),
			row('exit: summary line to the process closed', runs.map(run => run.exitMs)),
			row('wall', runs.map(run => run.wallMs)),
			row('wall minus critical path', runs.map(run => run.wallMs - run.path.totalMs)),
		],
		notes: [
			'Each row is a median of its own, so the rows need not add up to the median wall time exactly.',
			'A task was taken up at its task-end line\'s arrival minus its duration; the run began when the first was (or at run-start, if earlier).',
		],
	};
}

function pathBreakdown(runs: readonly NubFullRun[], nodes: readonly PathNode[]): Breakdown {
	const run = [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor((runs.length - 1) / 2)]!;
	const byName = new Map(nodes.map(node => [node.name, node]));
	let cumulative = 0;
	const rows = run.path.chain.map(name => {
		const timing = run.events.timings.get(name)!;
		cumulative += timing.durationMs;
		return [name, formatMs(gapBefore(name, byName, run.events)), formatMs(timing.durationMs), formatPercent(timing.durationMs, run.path.totalMs), formatMs(cumulative), timing.objects === undefined ? 'n/a' : String(timing.objects)];
	});
	const chains = new Map<string, number>();
	for (const { path } of runs) chains.set(path.chain.join(' > '), (chains.get(path.chain.join(' > ')) ?? 0) + 1);
	const slowest = [...run.events.timings.values()].sort((a, b) => b.durationMs - a.durationMs).slice(0, 6);
	return {
		title: `Critical path of the median full run (run ${runs.indexOf(run) + 1} of ${runs.length}: wall ${formatMs(run.wallMs)}, critical path ${formatMs(run.path.totalMs)})`,
		columns: ['task', 'gap before', 'duration', 'share', 'cumulative', 'objects'],
		rows,
		notes: [
			'A task\'s duration is the engine\'s, from taking it up to its end: time the event loop spent on other tasks\' synchronous work falls in it.',
			`Its slowest tasks: ${slowest.map(timing => `${timing.name} ${formatMs(timing.durationMs)}`).join(', ')}.`,
			...[...chains].map(([chain, times]) => `chain in ${times} of ${runs.length} runs: ${chain}`),
		],
	};
}

function rolloutBreakdown(nub: readonly NubFullRun[], manual: readonly ManualRun[]): Breakdown {
	const names = nub[0]!.rollouts.map(r => r.name);
	const of = (runs: readonly { rollouts: RolloutNotice[] }[], name: string, pick: (r: RolloutNotice) => number) => medianOf(runs.map(run => pick(run.rollouts.find(r => r.name === name)!)));
	const rows = names.map(name => [
		name,
		formatMs(of(nub, name, r => r.noticedAfterMs)),
		String(of(nub, name, r => r.requests)),
		formatMs(of(manual, name, r => r.noticedAfterMs)),
		String(of(manual, name, r => r.requests)),
	]);
	const total = (runs: readonly { rollouts: RolloutNotice[] }[]) => medianOf(runs.map(run => run.rollouts.reduce((sum, r) => sum + r.noticedAfterMs, 0)));
	rows.push(['all rollouts, summed', formatMs(total(nub)), '', formatMs(total(manual)), '']);
	return {
		title: `Rollout waits: how soon the waiter noticed a Deployment was rolled out (medians of ${nub.length} runs, from the audit log)`,
		columns: ['Deployment', 'nub: noticed after', 'nub: requests', 'kubectl rollout status: noticed after', 'kubectl: requests'],
		rows,
		notes: [
			'From the deployment controller\'s last status update before the waiter\'s last request about the Deployment ended, to that end.',
			'nub looks with a GET, 200 ms after the apply, then 300, 450, 675 ms later ...; kubectl rollout status watches.',
			`Requests in a full deployment: nub ${medianOf(nub.map(run => run.requests))} (a GET before each apply's PATCH, and polls), the manual sequence ${medianOf(manual.map(run => run.requests))} (discovery cached after its first kubectl).`,
		],
	};
}

function noopBreakdown(phases: readonly NoopPhases[], noop: Stats, diff: Stats, diffRequests: readonly number[], startup: { node: Stats; version: Stats; list: Stats; client: Stats; npx: Stats }): Breakdown {
	const row = (step: string, ms: number, of = noop.median) => [step, formatMs(ms), formatPercent(ms, of)];
	const toFirst = medianOf(phases.map(p => p.toFirstRequestMs));
	const jsonWall = medianOf(phases.map(p => p.wallMs));
	const nodeMs = startup.node.median;
	const nubMs = startup.version.median - nodeMs;
	const nubfileMs = startup.list.median - startup.version.median;
	const clientMs = startup.client.median - nodeMs;
	return {
		title: `nub's checked no-op: where the time goes (the --json no-op of each round, ${phases.length} runs, request times from the API server's audit log; start-up pieces from separate processes, ${startup.node.samples.length} runs each, timed right after each round's no-op)`,
		columns: ['phase', 'median', 'share of the --json no-op'],
		rows: [
			row('spawn to the first API request', toFirst, jsonWall),
			row('  Node itself (node -e 0)', nodeMs, jsonWall),
			row('  nub\'s start (nub --version minus node -e 0)', nubMs, jsonWall),
			row('  the Nubfile loaded, the graph built (nub list minus nub --version)', nubfileMs, jsonWall),
			row('  the Kubernetes client loaded (import of dist/k8s/client-node.js minus node -e 0)', clientMs, jsonWall),
			row('  the rest: preflights, state, lock, kubeconfig, first connection', toFirst - startup.list.median - clientMs, jsonWall),
			row(`checks: first request to last answer (${medianOf(phases.map(p => p.requests))} requests, ${medianOf(phases.map(p => p.lists))} LISTs)`, medianOf(phases.map(p => p.requestsMs)), jsonWall),
			row('last answer to run-start (drift judged)', medianOf(phases.map(p => p.toRunStartMs)), jsonWall),
			row('report: run-start to the summary line', medianOf(phases.map(p => p.reportMs)), jsonWall),
			row('exit: summary line to the process closed', medianOf(phases.map(p => p.exitMs)), jsonWall),
			row('the --json no-op, wall', jsonWall, jsonWall),
			row('the plain no-op (the comparison\'s), wall', noop.median, jsonWall),
		],
		notes: [
			'The start-up pieces are medians of separate processes subtracted from one another: on a loaded machine a piece can come out negative.',
			`kubectl diff --server-side: ${formatMs(diff.median)} for every manifest, ${medianOf([...diffRequests])} requests (one GET and one dry-run PATCH per object, and discovery).`,
			`npx's own start-up: npx --no-install nub --version ${formatMs(startup.npx.median)} minus node bin/nub.js --version ${formatMs(startup.version.median)} = ${formatMs(startup.npx.median - startup.version.median)} (round-robin, medians; npm offline, nub from node_modules/.bin), so npx nub run all takes about ${formatMs(noop.median + startup.npx.median - startup.version.median)} for this no-op.`,
		],
	};
}

function summarizeFull(run: NubFullRun) {
	return {
		wallMs: run.wallMs,
		criticalPathMs: run.path.totalMs,
		chain: run.path.chain,
		startMs: run.startMs,
		runMs: run.runMs,
		chainGapsMs: run.chainGapsMs,
		endMs: run.endMs,
		exitMs: run.exitMs,
		writes: run.writes,
		requests: run.requests,
		firstRequestMs: run.firstRequestMs,
		rollouts: run.rollouts,
		tasks: Object.fromEntries([...run.events.timings.values()].map(timing => [timing.name, { durationMs: timing.durationMs, startAtMs: timing.startAtMs, endAtMs: timing.endAtMs }])),
	};
}

function shellQuote(text: string): string {
	return `'${text.replace(/'/g, `'\\''`)}'`;
}
