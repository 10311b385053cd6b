import { paint, type Style } from '../reporters/reporter.ts';
import type { GraphView, ViewNode } from './model.ts';
import { countStates, looks } from './states.ts';

/** How `renderText` lays out its lines. */
export interface TextOptions {
	/** No line is longer than this many columns (default 100). */
	width?: number;
	/** ANSI colours (default off: the CLI turns them on for a terminal). */
	color?: boolean;
}

/**
 * The graph as a tree of needs from the targets, one line per task: its name, group and state,
 * and why it will or will not run. A task already shown with what it needs is referenced the
 * next time rather than repeated, so the tree has one full line per task plus one short line
 * per further edge:
 *
 *     all                                     ⊘ blocked by hub.config, stuck
 *     ├─ hub                    [hub]         ⊘ blocked by hub.config
 *     │  ├─ hub.config          [hub]         ✗ failed: could not write /var/lib/nublado/hub/conf…
 *     │  │  └─ namespace        [core]        ✓ cached
 *     │  └─ hub:token (secret)  [hub]         ✓ cached
 *     ├─ fileserver             [fileserver]  ◇ may run: nfs-service-ip will run; reruns only if…
 *     │  └─ nfs-service-ip      [fileserver]  ▶ will run: config changed
 *     │     └─ namespace (see above)
 */
export function renderText(view: GraphView, options: TextOptions = {}): string {
	const width = options.width ?? 100;
	const style: Style = { color: options.color ?? false, verbose: false };
	const rows = treeRows(view);
	// Deep trees keep their last levels: the rest of the line is what is worth reading.
	const maxPrefix = Math.floor(width * 0.4);
	const lefts = rows.map(row => prefixOf(row.place, maxPrefix) + row.node.name + (row.node.secret && !row.repeat ? ' (secret)' : ''));
	const nameWidth = Math.min(widest(lefts), Math.floor(width * 0.45));
	const groupWidth = Math.min(widest(view.groups.map(group => `[${group}]`)), 20);
	const title = `nub graph ${view.targets.join(' ')}`.trimEnd() + `: ${view.nodes.length} ${view.nodes.length === 1 ? 'task' : 'tasks'}`;
	const lines = [fit([[title, 'bold']], width, style), ...countLines(view, width, style), ''];
	rows.forEach((row, i) => {
		if (row.repeat) {
			lines.push(fit([[lefts[i]!], [' (see above)', 'dim']], width, style));
			return;
		}
		const { node } = row;
		const group = groupWidth === 0 ? '' : `${(node.group === undefined ? '' : `[${node.group}]`).padEnd(groupWidth)}  `;
		lines.push(fit([[`${lefts[i]!.padEnd(nameWidth)}  `], [group, 'dim'], [statusOf(node), looks[node.state].ansi]], width, style));
	});
	return `${lines.join('\n')}\n`;
}

/** `1 failed, 3 blocked, 8 cached`, each count in its state's colour, wrapped at `width`. */
function countLines(view: GraphView, width: number, style: Style): string[] {
	const counts = countStates(view);
	const lines: string[] = [];
	let line = '';
	let used = 0;
	counts.forEach(({ state, count }, i) => {
		const text = clip(`${count} ${looks[state].label}`, width - 1);
		const comma = i < counts.length - 1 ? ',' : '';
		const size = columns(text) + comma.length;
		if (used > 0 && used + 1 + size > width) {
			lines.push(line);
			line = '';
			used = 0;
		}
		line += `${used > 0 ? ' ' : ''}${paint(style, looks[state].ansi, text)}${comma}`;
		used += (used > 0 ? 1 : 0) + size;
	});
	if (line !== '') lines.push(line);
	return lines;
}

/** `▶ will run: config changed`: the state's marker and label, then what explains it. */
function statusOf(node: ViewNode): string {
	const look = looks[node.state];
	const head = `${look.marker} ${look.label}`;
	switch (node.state) {
		case 'failed':
			return node.last?.error ? `${head}: ${node.last.error}` : head;
		case 'blocked':
			return `${head} by ${node.blockedBy?.join(', ')}`;
		case 'forced': {
			const others = node.why.filter(why => why !== 'forced');
			return others.length > 0 ? `${head}; ${others.join('; ')}` : head;
		}
		case 'drifted':
			return `${look.marker} ${node.why.join('; ')}`;
		case 'will-run':
		case 'maybe':
			return node.why.length > 0 ? `${head}: ${node.why.join('; ')}` : head;
		case 'interrupted':
		case 'never-run':
		case 'cached':
			return head;
	}
}

/** A line of the tree: the task, its place in the tree, and whether it was shown above. */
interface Row {
	node: ViewNode;
	place: Place | undefined;
	repeat: boolean;
}

/**
 * Where a line hangs in the tree (undefined for a root): whether it is the last of its siblings,
 * and its parent's place. A chain rather than the drawn prefix, which would make a deep tree's
 * lines quadratic in its depth.
 */
interface Place {
	last: boolean;
	parent: Place | undefined;
}

/**
 * The tree's lines, depth first from each target, then from any task no target reached (the
 * last in topological order first, so that one tree covers what it needs). Iterative, so a long
 * chain cannot overflow the stack.
 */
function treeRows(view: GraphView): Row[] {
	const byName = new Map(view.nodes.map(node => [node.name, node]));
	const shown = new Set<string>();
	const rows: Row[] = [];
	const roots = [...view.targets, ...view.nodes.map(node => node.name).reverse()];
	for (const root of roots) {
		if (shown.has(root) || !byName.has(root)) continue;
		const stack: Array<{ name: string; place: Place | undefined }> = [{ name: root, place: undefined }];
		while (stack.length > 0) {
			const { name, place } = stack.pop()!;
			const node = byName.get(name)!;
			const repeat = shown.has(name);
			rows.push({ node, place, repeat });
			if (repeat) continue;
			shown.add(name);
			const needs = node.needs.filter(need => byName.has(need));
			// Pushed last first, so that they come off the stack in the order of the needs.
			for (let i = needs.length - 1; i >= 0; i--) stack.push({ name: needs[i]!, place: { last: i === needs.length - 1, parent: place } });
		}
	}
	return rows;
}

/**
 * The branches drawn before a line, at most `max` columns: a deeper line keeps its last levels
 * after a `…`.
 */
function prefixOf(place: Place | undefined, max: number): string {
	const levels = Math.floor((max - 1) / 3);
	const pieces: string[] = [];
	for (let at = place; at !== undefined; at = at.parent) {
		if (pieces.length === levels) return `…${pieces.reverse().join('')}`;
		if (at === place) pieces.push(at.last ? '└─ ' : '├─ ');
		else pieces.push(at.last ? '   ' : '│  ');
	}
	return pieces.reverse().join('');
}

/**
 * Joins the parts, each cut to the room left (the cut marked with …), then paints them: colour
 * codes take no columns, so they go on after the measuring.
 */
function fit(parts: Array<[text: string, color?: Color]>, width: number, style: Style): string {
	let room = width;
	const cuts = parts.map(([text]) => {
		const cut = clip(text, room);
		room -= columns(cut);
		return cut;
	});
	// Padding before nothing is trailing space.
	for (let i = cuts.length - 1; i >= 0; i--) {
		cuts[i] = cuts[i]!.trimEnd();
		if (cuts[i] !== '') break;
	}
	return cuts.map((cut, i) => (cut.trim() !== '' && parts[i]![1] ? paint(style, parts[i]![1]!, cut) : cut)).join('');
}

type Color = Parameters<typeof paint>[1];

function clip(text: string, room: number): string {
	if (room <= 0) return '';
	const chars = Array.from(text);
	return chars.length <= room ? text : `${chars.slice(0, room - 1).join('')}…`;
}

/** The columns of the widest text (a loop: spreading 100,000 lengths into Math.max overflows the stack). */
function widest(texts: readonly string[]): number {
	let max = 0;
	for (const text of texts) max = Math.max(max, columns(text));
	return max;
}

/** Columns a string takes: one per character (the markers are chosen one column wide). */
function columns(text: string): number {
	return Array.from(text).length;
}
