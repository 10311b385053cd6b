import { parseArgs } from 'node:util';
import { NubError } from '../engine/errors.ts';
import { didYouMean } from '../engine/suggest.ts';

/** The commands `nub` knows. */
export const commands = ['run', 'plan', 'list', 'graph', 'sandbox', 'destroy', 'unlock', 'watch'] as const;
export type Command = (typeof commands)[number];

/** A parsed command line. */
export interface Args {
	command: Command | 'help' | 'version';
	targets: string[];
	file?: string;
	jobs?: number;
	keepGoing: boolean;
	force: boolean;
	dryRun: boolean;
	json: boolean;
	verbose: boolean;
	all: boolean;
	/** The kubeconfig context to deploy to, and the kubeconfig file. */
	context?: string;
	kubeconfig?: string;
	/** `nub sandbox serve --port N`. */
	port?: number;
	/** Trust the cache without checking the cluster (`--no-check`). */
	noCheck: boolean;
	/** `nub run --prune`: delete, after the run, the objects nothing produces any more. */
	prune: boolean;
	/** `nub plan --diff`: what the run would change in the cluster, field by field. */
	diff: boolean;
	/** `nub plan --detailed-exitcode`: 0 nothing would change, 2 something would, 1 any error. */
	detailedExitcode: boolean;
	/** `nub plan --out FILE`: save the plan; `nub run --plan FILE`: apply it only if it still holds. */
	out?: string;
	plan?: string;
	/** `nub watch --include-cluster`: rerun the tasks that talk to a cluster too. */
	includeCluster: boolean;
	/** `nub graph --format F --output FILE`. */
	format: GraphFormat;
	output?: string;
}

export const graphFormats = ['text', 'dot', 'mermaid', 'json', 'svg', 'html'] as const;
export type GraphFormat = (typeof graphFormats)[number];

export const helpText = `nub: a typed task graph for deployments

Usage:
  nub run <targets...> [options]   run the targets and what they need, skipping cached tasks
  nub plan <targets...> [options]  show what would run and why (and what --prune would delete);
                                   runs and writes nothing; --diff shows, field by field, what the
                                   run would change in the cluster (dry runs; --all: cached tasks too)
  nub run --plan FILE              apply a plan saved by nub plan --out, only if it still holds
  nub list [--all]                 list the targets (every task with --all)
  nub graph [targets...]           the graph with each task's state and why it will or will not
                                   run (--format text|dot|mermaid|json|svg|html, --output FILE)
  nub sandbox serve [--port N]     run the embedded Kubernetes API server in the foreground and
                                   print its kubeconfig (for kubectl); Ctrl-C stops it
  nub sandbox reset                empty the sandbox cluster (its credentials stay)
  nub destroy [targets...]         undo the targets' tasks and what depends on them (default:
                                   everything) on the scheduler, dependents first, -j at a time;
                                   keeps going past errors; --dry-run lists what it would delete
  nub watch <targets...>           run the targets, then again after each change to their tasks'
                                   declared input files (debounced): only what a change reaches
                                   reruns; cluster tasks are held as last run unless
                                   --include-cluster; Ctrl-C stops it
  nub unlock                       remove the team state lock (state: 'kubernetes') of a run that
                                   is gone; refuses while its holder still renews it
  nub --help | --version

Options:
  -f, --file PATH     the Nubfile (default: ./Nubfile.ts); state goes to .nub/ beside it
  -j, --jobs N        tasks run at once (default: 4 per core, at least 8)
  -k, --keep-going    after a failure, keep running what does not depend on it
      --force         rerun the named targets even if cached (for a group: its tasks); their
                      declared output files are deleted first, unless the task keeps them
      --dry-run       with run: print the plan instead of running; with destroy: list, delete nothing
      --include-cluster  with watch: rerun tasks that talk to a cluster too
      --no-check      trust the cache: do not check that cached tasks' objects are still as applied
      --prune         with run: after it, delete the objects an earlier run applied that nothing
                      produces any more (nub plan lists them)
      --diff          with plan: each object a run would create, update or delete, and each
                      field nub owns that would change (server defaults and others' fields never
                      show; Secret values as keyed hashes; what the run makes, known after apply)
      --all           with plan --diff: the cached tasks' objects too (a full audit)
      --detailed-exitcode  with plan: exit 0 when nothing would change, 2 when something
                      would, 1 for any error (usage and configuration errors included)
      --out FILE      with plan: save the plan (targets, decisions, each object's hashes; no
                      secret values) for nub run --plan FILE
      --plan FILE     with run: decide afresh and apply only if the decisions and the live
                      objects (the fields nub owns) are as planned; else refuse, naming what moved
      --json          one JSON object per line (run, plan, list, destroy, destroy --dry-run);
                      the last line is the summary
      --verbose       show cached tasks, debug logs and error stacks
      --context NAME  deploy to this kubeconfig context (overrides the Nubfile's cluster())
      --kubeconfig F  the kubeconfig file for --context (default: KUBECONFIG or ~/.kube/config)

Clusters: nub deploys only to a context named by --context or by the Nubfile
(export const target = cluster({ context })), never to the current one; with neither,
it uses its embedded sandbox, kept in .nub/sandbox/ (kubeconfig: .nub/sandbox/kubeconfig).
cluster({ context, state: 'kubernetes' }) keeps the state in that cluster (Secret
nub-state/nub-state) and locks runs with a Lease (nub-state/nub-lock), for a team.

Files: a task may declare the files it writes, task({ outputs: { files: ['out/a.html'] } }):
a cached task whose outputs are missing or changed since its last run reruns (the plan
says why), and their contents are part of what its dependents see. cmd('tsc -p .', spec)
is a task that runs one shell command (its text is part of the key); in any task,
sh(context) (or context.$) runs commands, as zx does, in the Nubfile's folder, with the
output in the task's log and Ctrl-C killing the command's process group.

Environment:
  NUB_STATE_KEY       key for the secrets in the state (default: .nub/key, made on first use;
                      required with cluster({ state: 'kubernetes' }): the team shares it)
  NUB_LEASE_SECONDS   team state: how long the lock's Lease lasts unrenewed (default 20)
  CI, NO_COLOR        plain lines instead of live progress; no colours

Exit codes: 0 success, 1 a task failed, 2 nothing ran (a usage, Nubfile, graph,
configuration, state, lock or cluster error, or a saved plan that no longer holds), 70 internal
error (a bug in nub), 130 interrupted. nub plan --detailed-exitcode: 0 no changes, 2 changes,
1 any error.
`;

/** Parses argv (without node and the script); throws a `usage` NubError. */
export function parseCommandLine(argv: readonly string[]): Args {
	let parsed;
	try {
		parsed = parseArgs({
			args: [...argv],
			allowPositionals: true,
			strict: true,
			options: {
				file: { type: 'string', short: 'f' },
				jobs: { type: 'string', short: 'j' },
				'keep-going': { type: 'boolean', short: 'k' },
				force: { type: 'boolean' },
				'dry-run': { type: 'boolean' },
				json: { type: 'boolean' },
				verbose: { type: 'boolean', short: 'v' },
				all: { type: 'boolean' },
				context: { type: 'string' },
				kubeconfig: { type: 'string' },
				port: { type: 'string' },
				format: { type: 'string' },
				'no-check': { type: 'boolean' },
				prune: { type: 'boolean' },
				'include-cluster': { type: 'boolean' },
				output: { type: 'string', short: 'o' },
				diff: { type: 'boolean' },
				'detailed-exitcode': { type: 'boolean' },
				out: { type: 'string' },
				plan: { type: 'string' },
				help: { type: 'boolean', short: 'h' },
				version: { type: 'boolean', short: 'V' },
			},
		});
	} catch (error) {
		const message = (error as Error).message.split('\n')[0]!;
		const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1];
		if (unknown !== undefined) {
			const known = ['--file', '--jobs', '--keep-going', '--force', '--dry-run', '--json', '--verbose', '--all', '--context', '--kubeconfig', '--port', '--format', '--output', '--no-check', '--prune', '--diff', '--detailed-exitcode', '--out', '--plan', '--include-cluster', '--help', '--version'];
			throw new NubError('usage', `unknown option ${unknown}${didYouMean(unknown, known)} (see nub --help)`);
		}
		throw new NubError('usage', `${message.replace(/\. To specify a positional argument.*$/, '')} (see nub --help)`);
	}
	const { values, positionals } = parsed;
	const [first, ...targets] = positionals;
	const base = {
		targets,
		file: values.file,
		keepGoing: values['keep-going'] ?? false,
		force: values.force ?? false,
		dryRun: values['dry-run'] ?? false,
		json: values.json ?? false,
		verbose: values.verbose ?? false,
		all: values.all ?? false,
		context: values.context,
		kubeconfig: values.kubeconfig,
		format: 'text' as GraphFormat,
		noCheck: values['no-check'] ?? false,
		prune: values.prune ?? false,
		includeCluster: values['include-cluster'] ?? false,
		output: values.output,
		diff: values.diff ?? false,
		detailedExitcode: values['detailed-exitcode'] ?? false,
		out: values.out,
		plan: values.plan,
	};
	if (values.help || first === 'help') return { ...base, command: 'help' };
	if (values.version) return { ...base, command: 'version' };
	if (first === undefined) throw new NubError('usage', 'no command given: try nub run all, nub plan all or nub list (see nub --help)');
	if (!(commands as readonly string[]).includes(first)) {
		throw new NubError('usage', `unknown command "${first}"${didYouMean(first, commands)} (see nub --help)`);
	}
	let jobs: number | undefined;
	if (values.jobs !== undefined) {
		jobs = Number(values.jobs);
		if (!Number.isInteger(jobs) || jobs < 1) throw new NubError('usage', `--jobs must be a whole number of at least 1, got "${values.jobs}"`);
	}
	const command = first as Command;
	for (const [option, given, allowed] of [['--diff', values.diff, 'plan'], ['--detailed-exitcode', values['detailed-exitcode'], 'plan'], ['--out', values.out, 'plan'], ['--plan', values.plan, 'run']] as const) {
		if (given !== undefined && command !== allowed) throw new NubError('usage', `${option} is an option of nub ${allowed}, not of nub ${command}`);
	}
	if (values.all && command === 'plan' && !values.diff) throw new NubError('usage', '--all is an option of nub plan --diff (cached tasks\' objects too)');
	if (values.plan !== undefined && (values.force || values['dry-run'])) throw new NubError('usage', `--plan applies a saved plan as it was decided: not with ${values.force ? '--force' : '--dry-run'} (give --force to nub plan)`);
	if ((command === 'run' || command === 'plan' || command === 'watch') && targets.length === 0 && values.plan === undefined) {
		throw new NubError('usage', `nub ${command} needs at least one target: try nub ${command} all, or nub list`);
	}
	if (command === 'sandbox' && (targets.length !== 1 || !['serve', 'reset'].includes(targets[0]!))) {
		throw new NubError('usage', `nub sandbox takes serve or reset${targets[0] ? `, not "${targets[0]}"${didYouMean(targets[0], ['serve', 'reset'])}` : ''}`);
	}
	if (values.prune && command !== 'run') throw new NubError('usage', `--prune is an option of nub run, not of nub ${command}`);
	if (values['include-cluster'] && command !== 'watch') throw new NubError('usage', `--include-cluster is an option of nub watch, not of nub ${command}`);
	if (values.kubeconfig !== undefined && values.context === undefined) {
		throw new NubError('usage', '--kubeconfig needs --context: nub never deploys to the current context of a kubeconfig');
	}
	if (values.format !== undefined) {
		if (!(graphFormats as readonly string[]).includes(values.format)) {
			throw new NubError('usage', `--format must be one of ${graphFormats.join(', ')}, got "${values.format}"${didYouMean(values.format, graphFormats)}`);
		}
		base.format = values.format as GraphFormat;
	}
	let port: number | undefined;
	if (values.port !== undefined) {
		port = Number(values.port);
		if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NubError('usage', `--port must be a port number, got "${values.port}"`);
	}
	return { ...base, command, jobs, ...(port !== undefined ? { port } : {}) };
}
