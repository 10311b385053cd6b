/** Edit distance between two strings (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
	let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
	for (let i = 1; i <= a.length; i++) {
		const current = [i];
		for (let j = 1; j <= b.length; j++) {
			const cost = a[i - 1] === b[j - 1] ? 0 : 1;
			current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
		}
		previous = current;
	}
	return previous[b.length]!;
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
