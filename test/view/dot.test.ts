import test from 'ava';
import { spawnSync } from 'node:child_process';
import { renderDot, type GraphView } from '../../lib/view/index.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { requireProgram } from '../helpers/tools.ts';
import { decodeSvg, svgNodeNames } from './helpers.ts';
import { scenario } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
test.before(async () => ({ view } = await scenario(dir)));
test.after.always(() => cleanup(dir));

/** The real Graphviz, as installed (`dot`). */
function graphviz(dot: string) {
	return spawnSync(requireProgram('dot', 'graphviz'), ['-Tsvg'], { input: dot, encoding: 'utf8' });
}

test('Graphviz draws it: one node per task with its id, one edge per need', t => {
	const result = graphviz(renderDot(view));
	t.is(result.status, 0, result.stderr);
	t.is(result.stderr, '');
	const svg = decodeSvg(result.stdout);
	t.deepEqual(svgNodeNames(svg).sort(), view.nodes.map(node => node.name).sort());
	const needs = view.nodes.reduce((sum, node) => sum + node.needs.length, 0);
	t.is(svg.match(/class="edge"/g)?.length, needs);
	t.is(svg.match(/class="cluster"/g)?.length, view.groups.length);
});

test('a cluster per group, labelled; edges from the needed task to the task that needs it', t => {
	const dot = renderDot(view);
	t.true(dot.startsWith('digraph nub {\n'));
	for (const group of view.groups) t.true(dot.includes(`subgraph "cluster_${group}" {\n\t\tlabel="${group}";`), group);
	t.regex(dot, /^\t"nfs-service-ip" -> "fileserver";$/m);
	t.regex(dot, /^\t"hub\.config" -> "hub" \[color="#c62828", style=dashed\];$/m);
	t.regex(dot, /"hub:token" \[id="node-hub:token", label="hub:token\\ncached \(secret\)", .*peripheries=2\];/);
	t.regex(dot, /"all" \[id="node-all", label="all\\nblocked", shape=ellipse/);
});

test('any text is quoted safely: quotes, backslashes and newlines in names and groups', t => {
	const odd = 'a "quoted" \\ group\nwith a newline';
	const strange: GraphView = {
		targets: ['b:2'],
		groups: [odd],
		nodes: [
			{ name: 'a.1-x', group: odd, secret: false, isGroup: false, needs: [], state: 'cached', why: [] },
			{ name: 'b:2', secret: true, isGroup: true, needs: ['a.1-x'], state: 'will-run', why: ['never ran'] },
		],
	};
	const result = graphviz(renderDot(strange));
	t.is(result.status, 0, result.stderr);
	t.deepEqual(svgNodeNames(decodeSvg(result.stdout)), ['a.1-x', 'b:2']);
	t.true(decodeSvg(result.stdout).includes('a &quot;quoted&quot; \\ group with a newline'));
});
