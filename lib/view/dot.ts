import { tasksByGroup, type GraphView, type ViewNode } from './model.ts';
import { looks } from './states.ts';

const font = 'Helvetica,Arial,sans-serif';

/**
 * The graph in Graphviz's DOT language: a cluster per group, a node per task drawn by its state
 * (secret tasks with a double outline, group tasks as ellipses), an edge per need. Every node has
 * the SVG id `node-<name>`, which the HTML page finds its tasks by.
 */
export function renderDot(view: GraphView): string {
	const lines = [
		'digraph nub {',
		'\t// Edges point from a task to each task that needs it: the way outputs flow.',
		'\t// Red dashed edges carry a failure: the task they leave failed or is blocked.',
		`\tgraph [rankdir=LR, fontname=${quote(font)}, fontsize=12, nodesep=0.25, ranksep=0.5];`,
		// Wider margins than Graphviz's: it measures text in Helvetica, and a browser without it
		// draws in a wider font.
		`\tnode [fontname=${quote(font)}, fontsize=11, margin="0.2,0.06"];`,
		'\tedge [color="#757575", arrowsize=0.7];',
	];
	const members = tasksByGroup(view);
	for (const group of view.groups) {
		lines.push(
			`\tsubgraph ${quote(`cluster_${group}`)} {`,
			`\t\tlabel=${quote(group)}; id=${quote(`group-${group}`)};`,
			'\t\tstyle="rounded,dashed"; color="#9e9e9e"; fontcolor="#616161";',
			...(members.get(group) ?? []).map(node => `\t\t${nodeStatement(node)}`),
			'\t}',
		);
	}
	for (const node of members.get(undefined) ?? []) lines.push(`\t${nodeStatement(node)}`);
	const states = new Map(view.nodes.map(node => [node.name, node.state]));
	for (const node of view.nodes) {
		for (const need of node.needs) {
			const state = states.get(need);
			const carriesFailure = state === 'failed' || state === 'interrupted' || state === 'blocked';
			lines.push(`\t${quote(need)} -> ${quote(node.name)}${carriesFailure ? ' [color="#c62828", style=dashed]' : ''};`);
		}
	}
	lines.push('}');
	return `${lines.join('\n')}\n`;
}

function nodeStatement(node: ViewNode): string {
	const look = looks[node.state];
	const shape = node.isGroup ? 'ellipse' : 'box';
	const style = [shape === 'box' ? 'rounded' : '', 'filled', look.line === 'solid' ? '' : look.line].filter(Boolean).join(',');
	const attributes = [
		`id=${quote(`node-${node.name}`)}`,
		`label=${quoteLines([node.name, node.secret ? `${look.label} (secret)` : look.label])}`,
		`shape=${shape}`,
		`style=${quote(style)}`,
		`fillcolor=${quote(look.fill)}`,
		`color=${quote(look.stroke)}`,
		`penwidth=${look.heavy ? 2 : 1}`,
		...(node.secret ? ['peripheries=2'] : []),
	];
	return `${quote(node.name)} [${attributes.join(', ')}];`;
}

/** A DOT quoted string: any text is safe in it, task names with `-`, `.` and `:` included. */
function quote(text: string): string {
	return quoteLines([text]);
}

/** Lines joined by DOT's centred line break (`\n`), each escaped. */
function quoteLines(lines: readonly string[]): string {
	return `"${lines.map(line => line.replace(/[\\"]/g, '\\$&').replace(/\r?\n/g, ' ')).join('\\n')}"`;
}
