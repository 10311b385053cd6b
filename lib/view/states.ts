import { nodeStates, type GraphView, type NodeState } from './model.ts';

/** How one state looks, the same in every renderer. */
export interface StateLook {
	/** For text lines: one character that is one column wide in a terminal (no emoji). */
	marker: string;
	/** A few words: `will run`. */
	label: string;
	/** The colour of its text line (`paint`'s names). */
	ansi: 'red' | 'green' | 'yellow' | 'blue' | 'dim' | 'bold';
	/** Fill and outline in DOT, Mermaid and HTML. */
	fill: string;
	stroke: string;
	/** Solid when the outcome is known; dashed or dotted when it hangs on something else. */
	line: 'solid' | 'dashed' | 'dotted';
	/** A thicker outline for what demands attention (runs for sure, or failed). */
	heavy: boolean;
}

/** Blues run, green is reused, red failed, grey cannot run. */
export const looks: Readonly<Record<NodeState, StateLook>> = {
	forced: { marker: '↻', label: 'forced', ansi: 'bold', fill: '#f3e5f5', stroke: '#6a1b9a', line: 'solid', heavy: true },
	failed: { marker: '✗', label: 'failed', ansi: 'red', fill: '#ffebee', stroke: '#c62828', line: 'solid', heavy: true },
	interrupted: { marker: '✗', label: 'interrupted', ansi: 'red', fill: '#fff3e0', stroke: '#c62828', line: 'dashed', heavy: true },
	blocked: { marker: '⊘', label: 'blocked', ansi: 'yellow', fill: '#eeeeee', stroke: '#9e9e9e', line: 'dashed', heavy: false },
	'never-run': { marker: '○', label: 'never ran', ansi: 'blue', fill: '#ffffff', stroke: '#1565c0', line: 'dotted', heavy: false },
	drifted: { marker: '≠', label: 'drifted', ansi: 'red', fill: '#fce4ec', stroke: '#ad1457', line: 'solid', heavy: true },
	'will-run': { marker: '▶', label: 'will run', ansi: 'blue', fill: '#e3f2fd', stroke: '#1565c0', line: 'solid', heavy: true },
	maybe: { marker: '◇', label: 'may run', ansi: 'yellow', fill: '#fffde7', stroke: '#1565c0', line: 'dashed', heavy: false },
	cached: { marker: '✓', label: 'cached', ansi: 'green', fill: '#e8f5e9', stroke: '#2e7d32', line: 'solid', heavy: false },
};

/** How many tasks are in each state, in the order of the rules; states with none left out. */
export function countStates(view: GraphView): Array<{ state: NodeState; count: number }> {
	const counts = new Map<NodeState, number>();
	for (const node of view.nodes) counts.set(node.state, (counts.get(node.state) ?? 0) + 1);
	return nodeStates.filter(state => counts.has(state)).map(state => ({ state, count: counts.get(state)! }));
}

/** `14 tasks: 3 will run, 1 failed, 2 blocked, 8 cached`. */
export function summarize(view: GraphView): string {
	const tasks = `${view.nodes.length} ${view.nodes.length === 1 ? 'task' : 'tasks'}`;
	const parts = countStates(view).map(({ state, count }) => `${count} ${looks[state].label}`);
	return parts.length > 0 ? `${tasks}: ${parts.join(', ')}` : tasks;
}
