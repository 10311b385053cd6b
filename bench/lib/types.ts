import type { Stats } from './timing.ts';

/** What every benchmark group gets from `bench/index.ts`. */
export interface BenchContext {
	/** Timed runs per measurement (5, or 3 with --quick). */
	repetitions: number;
	quick: boolean;
	/** The repository root (where package.json and bin/nub.js are). */
	repoRoot: string;
	/** A fresh folder `$TMPDIR/nub-bench-XXXXXX`, removed when the bench ends (unless --keep). */
	tempDir(): string;
	/** A progress line, on stderr. */
	log(line: string): void;
}

/** A timed thing: a command's wall times. */
export interface Measurement {
	name: string;
	/** The command line, for the record. */
	command?: string;
	stats: Stats;
}

/** A ratio of a nub measurement to a baseline measured in the same run, against a goal. */
export interface Comparison {
	name: string;
	/** Absent when the baseline could not be measured (no make): the goal is then not checked. */
	baseline?: Measurement;
	subject: Measurement;
	/** The ratio subject/baseline must be at most this. */
	goalMax: number;
	/** Why the baseline is missing, when it is. */
	skipped?: string;
}

/** A table printed under the comparisons: cells already formatted. */
export interface Breakdown {
	title: string;
	columns: string[];
	rows: string[][];
	/** Lines printed under the table. */
	notes?: string[];
}

/** What a group returns. */
export interface GroupResult {
	group: string;
	comparisons: Comparison[];
	breakdowns: Breakdown[];
	/** Anything else worth keeping in the JSON record (DAG sizes, single runs, phases). */
	raw: Record<string, unknown>;
}

/** A benchmark group: `bench/<name>.ts` exports one, `bench/index.ts` lists it. */
export type BenchGroup = (context: BenchContext) => Promise<GroupResult>;

export function ratioOf(comparison: Comparison): number | undefined {
	if (!comparison.baseline) return undefined;
	return comparison.subject.stats.median / comparison.baseline.stats.median;
}
