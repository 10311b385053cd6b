import type { Viz } from '@viz-js/viz';
import { renderDot } from './dot.ts';
import type { GraphView } from './model.ts';

let viz: Promise<Viz> | undefined;

/**
 * The DOT drawing laid out by Graphviz, compiled to WebAssembly (@viz-js/viz), so no `dot` need be
 * installed. The module (1.2 MB) is imported on first use and its instance kept: the first
 * drawing costs about 40 ms, later ones about a millisecond. Each task is the SVG group
 * `<g id="node-<name>" class="node">`.
 */
export async function renderSvg(view: GraphView): Promise<string> {
	viz ??= import('@viz-js/viz').then(module => module.instance());
	return (await viz).renderString(renderDot(view), { format: 'svg' });
}
