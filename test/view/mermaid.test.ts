import test from 'ava';
import { nodeStates, renderMermaid, type GraphView } from '../../lib/view/index.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { scenario } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
test.before(async () => ({ view } = await scenario(dir)));
test.after.always(() => cleanup(dir));

const declaration = /^\s*(t\d+)\(?\["(.*?)<br\/>/;
const edge = /^\s*(t\d+) --> (t\d+)$/;

test('exactly one declaration per task and one edge per need, needed task first', t => {
	const lines = renderMermaid(view).split('\n');
	t.is(lines[0], 'flowchart LR');
	const names = new Map<string, string>();
	for (const line of lines) {
		const match = declaration.exec(line);
		if (match) names.set(match[1]!, match[2]!);
	}
	t.is(lines.filter(line => declaration.test(line)).length, view.nodes.length);
	t.deepEqual([...names.values()].sort(), view.nodes.map(node => node.name).sort());
	const edges = lines.flatMap(line => {
		const match = edge.exec(line);
		return match ? [`${names.get(match[1]!)} -> ${names.get(match[2]!)}`] : [];
	});
	t.deepEqual(edges.sort(), view.nodes.flatMap(node => node.needs.map(need => `${need} -> ${node.name}`)).sort());
});

test('a subgraph per group holding its tasks, a class per state, secrets marked', t => {
	const mermaid = renderMermaid(view);
	t.regex(mermaid, /subgraph g2\["hub"\]\n(\s+t\d+\[.*\n){4}\s+end\n/);
	t.is(mermaid.match(/^\s+end$/gm)?.length, view.groups.length);
	for (const state of nodeStates) t.regex(mermaid, new RegExp(`classDef ${state.replace(/-(\w)/, (_, c: string) => c.toUpperCase())} fill:`));
	t.regex(mermaid, /t\d+\["hub:token<br\/>cached \(secret\)"\]:::cached/);
	t.regex(mermaid, /t\d+\(\["all<br\/>blocked"\]\):::blocked/);
	t.regex(mermaid, /^\s+t\d+\["nfs-service-ip<br\/>will run"\]:::willRun$/m);
});

test('labels cannot break out of their quotes', t => {
	const mermaid = renderMermaid({
		targets: [],
		groups: ['a "group" <b>'],
		nodes: [{ name: 'end', group: 'a "group" <b>', secret: false, isGroup: false, needs: [], state: 'cached', why: [] }],
	});
	t.true(mermaid.includes('subgraph g0["a #34;group#34; #60;b#62;"]'));
	t.true(mermaid.includes('t0["end<br/>cached"]:::cached'));
});
