import type { ReportedEvent } from './events.ts';

/** Where reporters write: the CLI passes the process's streams, tests pass buffers. */
export interface Output {
	write(text: string): void;
}

/** Turns events (a run's, and the other commands') into output. */
export interface Reporter {
	onEvent(event: ReportedEvent): void;
	/** Called once after the run, before the process exits. */
	close(): Promise<void>;
}

/** How reporters may style text. */
export interface Style {
	color: boolean;
	verbose: boolean;
}

const codes = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;

/** ANSI styling that turns itself off for NO_COLOR and pipes. */
export function paint(style: Style, color: keyof typeof codes, text: string): string {
	return style.color ? `\u001B[${codes[color]}m${text}\u001B[0m` : text;
}

/** 1.234 s, 56 ms. */
export function formatDuration(ms: number): string {
	return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
