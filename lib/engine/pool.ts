/** Runs `work` on each item, at most `jobs` at once, started in the items' order; resolves when all have ended. */
export async function eachAtMost<T>(jobs: number, items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
	let next = 0;
	const worker = async () => {
		while (next < items.length) await work(items[next++]!);
	};
	await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
}
