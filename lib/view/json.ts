import type { GraphView } from './model.ts';

/** The view as pretty-printed JSON, for scripts: `JSON.parse` gives the `GraphView` back. */
export function renderJson(view: GraphView): string {
	return `${JSON.stringify(view, null, 2)}\n`;
}
