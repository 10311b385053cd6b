/**
 * `nub graph`: the task graph with each task's state and why it will or will not run, as a
 * model (`buildView`) and renderers of it. Pure: the CLI reads the state, plans and writes.
 */
export { buildView, nodeStates } from './model.ts';
export type { GraphView, LastRun, NodeState, ViewNode } from './model.ts';
export { renderText } from './text.ts';
export type { TextOptions } from './text.ts';
export { renderDot } from './dot.ts';
export { renderMermaid } from './mermaid.ts';
export { renderJson } from './json.ts';
export { renderSvg } from './svg.ts';
export { renderHtml } from './html.ts';
