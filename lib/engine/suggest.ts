/**
 * Edit distance between two strings: insertions, deletions, substitutions and swaps of two
 * neighbours ("rnu" is one edit from "run"), the typos people make.
 */
export function editDistance(a: string, b: string): number {
	const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
	for (let j = 1; j <= b.length; j++) d[0]![j] = j;
	for (let i = 1; i <= a.length; i++) {
		for (let j = 1; j <= b.length; j++) {
			const cost = a[i - 1] === b[j - 1] ? 0 : 1;
			let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
			if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
			d[i]![j] = best;
		}
	}
	return d[a.length]![b.length]!;
}

/**
 * The known name closest to `name`, if it is close enough to be what the user meant: within a
 * third of its length, or a case-insensitive match, or a prefix.
 */
export function nearest(name: string, known: Iterable<string>): string | undefined {
	let best: string | undefined;
	let bestDistance = Infinity;
	for (const candidate of known) {
		if (candidate.toLowerCase() === name.toLowerCase()) return candidate;
		// The distance is at least the difference in length: a candidate too much shorter to be
		// close is not measured (a name of a megabyte would cost seconds against each one).
		if (name.length - candidate.length > Math.max(1, Math.floor(name.length / 3))) continue;
		const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
		if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
	}
	if (best === undefined) return undefined;
	const close = bestDistance <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3));
	return close || best.startsWith(name) ? best : undefined;
}

/** ` (did you mean "x"?)` when a near name exists, else the empty string. */
export function didYouMean(name: string, known: Iterable<string>): string {
	const match = nearest(name, known);
	return match === undefined ? '' : ` (did you mean "${match}"?)`;
}
