/** What replaces a secret in anything shown. */
export const redactedMarker = '[secret]';

/**
 * Replaces every known secret value, and the forms it takes inside other text (JSON-escaped,
 * URL-encoded, hex, base64), in text about to be shown. Secrets are
 * registered as secret tasks produce or reuse them; short strings are left alone (a two-letter
 * secret would blank out half of every message, and is no secret anyway).
 */
export class Redactor {
	private readonly needles = new Set<string>();
	private pattern: RegExp | undefined;

	/** Registers every string inside a secret output. */
	add(value: unknown): void {
		if (typeof value === 'string') {
			if (value.length < 6) return;
			const before = this.needles.size;
			for (const form of forms(value)) this.needles.add(form);
			if (this.needles.size !== before) this.pattern = undefined;
		} else if (Array.isArray(value)) {
			for (const item of value) this.add(item);
		} else if (typeof value === 'object' && value !== null) {
			for (const item of Object.values(value)) this.add(item);
		}
	}

	/** `text` with every registered secret replaced by the marker. */
	redact(text: string): string {
		if (this.needles.size === 0) return text;
		this.pattern ??= new RegExp(
			[...this.needles].sort((a, b) => b.length - a.length).map(escape).join('|'),
			'g',
		);
		return text.replace(this.pattern, redactedMarker);
	}
}

/**
 * The value and the forms it takes when written inside other text:
 * - its lines (a PEM's body lines are shown on their own);
 * - JSON-escaped, as it reads inside a JSON string (a PEM's newlines as `\n`), and so escaped
 *   twice (JSON inside a JSON string, such as an error quoting a response body);
 * - URL-encoded, by encodeURIComponent (`%2B`, `%20`) and as a form or query encodes it (`+`);
 * - hex, lower and upper case;
 * - base64 and base64url: whole, and as it reads inside the base64 of a longer text that embeds
 *   it (a certificate followed by its chain in one Secret key) at each of the three byte
 *   alignments, cut to the characters that depend on the value alone.
 * A form equal to the value adds nothing (the Set drops it).
 */
function forms(value: string): string[] {
	const result = [value];
	const json = JSON.stringify(value).slice(1, -1);
	result.push(json, JSON.stringify(json).slice(1, -1));
	result.push(encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2));
	const bytes = Buffer.from(value, 'utf8');
	result.push(bytes.toString('hex'), bytes.toString('hex').toUpperCase());
	const base64 = bytes.toString('base64');
	result.push(base64, base64.replace(/=+$/, ''), bytes.toString('base64url'));
	for (const shift of [0, 1, 2]) {
		const shifted = Buffer.concat([Buffer.alloc(shift), bytes]);
		const whole = shifted.subarray(0, shifted.length - (shifted.length % 3));
		const inner = whole.toString('base64').slice([0, 2, 3][shift]);
		if (inner.length >= 8) result.push(inner, inner.replaceAll('+', '-').replaceAll('/', '_'));
	}
	for (const line of value.split('\n')) {
		if (line.length >= 16 && line !== value && !line.startsWith('-----')) result.push(line, encodeURIComponent(line));
	}
	return result;
}

function escape(text: string) {
	return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
