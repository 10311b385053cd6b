import type { Breakdown, Comparison } from './types.ts';
import { ratioOf } from './types.ts';

/** 12.3 ms, 456 ms, 4.26 s. */
export function formatMs(ms: number): string {
	if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
	if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
	if (ms >= 100) return `${ms.toFixed(0)} ms`;
	return `${ms.toFixed(1)} ms`;
}

export function formatRatio(ratio: number): string {
	return ratio >= 10 ? `${ratio.toFixed(1)}x` : `${ratio.toFixed(2)}x`;
}

export function formatPercent(part: number, whole: number): string {
	return `${((100 * part) / whole).toFixed(0)}%`;
}

/** A plain-text table: columns of figures (`12 ms`, `+3.1 ms`, `0.19x`, `42%`) right-aligned, text left-aligned. */
export function table(columns: readonly string[], rows: readonly (readonly string[])[]): string {
	const widths = columns.map((column, i) => Math.max(column.length, ...rows.map(row => (row[i] ?? '').length)));
	const numeric = columns.map((_, i) => rows.length > 0 && rows.every(row => /^(n\/a|[+<=\s-]*\d[\d.]*( ?(ms|s|x|%|MB|kB|B))?)$/.test(row[i] ?? '')));
	const line = (cells: readonly string[]) =>
		cells
			.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
			.join('  ')
			.trimEnd();
	return [line(columns), widths.map(w => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The main table: one row per comparison. */
export function comparisonTable(comparisons: readonly Comparison[]): string {
	const rows = comparisons.map(c => {
		const ratio = ratioOf(c);
		return [
			c.name,
			c.baseline?.name ?? `(${c.skipped ?? 'no baseline'})`,
			c.baseline ? formatMs(c.baseline.stats.median) : 'n/a',
			c.subject.name,
			formatMs(c.subject.stats.median),
			ratio === undefined ? 'n/a' : formatRatio(ratio),
			`<= ${c.goalMax}x`,
			ratio === undefined ? 'not checked' : ratio <= c.goalMax ? 'goal met' : 'goal missed',
		];
	});
	return table(['benchmark', 'baseline', 'baseline median', 'nub', 'nub median', 'ratio', 'goal', 'result'], rows);
}

/** Median, min, max and count of every measurement, so the spread is visible. */
export function spreadTable(comparisons: readonly Comparison[]): string {
	const seen = new Set<string>();
	const rows: string[][] = [];
	for (const c of comparisons) {
		for (const m of [c.baseline, c.subject]) {
			if (!m || seen.has(m.name)) continue;
			seen.add(m.name);
			rows.push([m.name, formatMs(m.stats.median), formatMs(m.stats.min), formatMs(m.stats.max), String(m.stats.samples.length)]);
		}
	}
	return table(['measurement', 'median', 'min', 'max', 'runs'], rows);
}

export function breakdownText(breakdown: Breakdown): string {
	return [breakdown.title, table(breakdown.columns, breakdown.rows), ...(breakdown.notes ?? []).map(note => `  ${note}`)].join('\n');
}
