import { nodeStates, tasksByGroup, type GraphView, type ViewNode } from './model.ts';
import { looks } from './states.ts';

/**
 * The graph as a Mermaid flowchart (GitHub and most Markdown viewers draw it): a subgraph per
 * group, exactly one declaration line per task and one `-->` line per need, from the needed task
 * to the task that needs it. Mermaid ids are `t<position>`, since task names may hold characters
 * (`.`, `:`) or be words (`end`) that Mermaid reads as syntax; the name is the label.
 */
export function renderMermaid(view: GraphView): string {
	const ids = new Map(view.nodes.map((node, i) => [node.name, `t${i}`]));
	const lines = ['flowchart LR'];
	const members = tasksByGroup(view);
	view.groups.forEach((group, i) => {
		lines.push(`    subgraph g${i}["${escape(group)}"]`);
		for (const node of members.get(group) ?? []) lines.push(`        ${declaration(node, ids)}`);
		lines.push('    end');
	});
	for (const node of members.get(undefined) ?? []) lines.push(`    ${declaration(node, ids)}`);
	for (const node of view.nodes) {
		for (const need of node.needs) if (ids.has(need)) lines.push(`    ${ids.get(need)} --> ${ids.get(node.name)}`);
	}
	for (const state of nodeStates) {
		const look = looks[state];
		const dash = look.line === 'dashed' ? ',stroke-dasharray:5 3' : look.line === 'dotted' ? ',stroke-dasharray:2 2' : '';
		lines.push(`    classDef ${className(state)} fill:${look.fill},stroke:${look.stroke},stroke-width:${look.heavy ? 2 : 1}px${dash}`);
	}
	const secrets = view.nodes.filter(node => node.secret).map(node => ids.get(node.name));
	if (secrets.length > 0) lines.push('    classDef secret stroke-width:4px,stroke-dasharray:1 2', `    class ${secrets.join(',')} secret`);
	return `${lines.join('\n')}\n`;
}

function declaration(node: ViewNode, ids: ReadonlyMap<string, string>): string {
	const label = `${escape(node.name)}<br/>${looks[node.state].label}${node.secret ? ' (secret)' : ''}`;
	// Round ends for group tasks, as in the DOT drawing.
	const [open, close] = node.isGroup ? ['(["', '"])'] : ['["', '"]'];
	return `${ids.get(node.name)}${open}${label}${close}:::${className(node.state)}`;
}

/** Class names without `-`, which Mermaid's `:::` shorthand handles badly. */
function className(state: string): string {
	return state.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase());
}

/** Text for a quoted Mermaid label: its entity codes stand for what would end the quote or be read as HTML. */
function escape(text: string): string {
	return text.replace(/[#"<>&]/g, char => `#${char.charCodeAt(0)};`);
}
