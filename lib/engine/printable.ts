/**
 * `text` safe to put in a message shown on a terminal: every control character (C0, DEL and C1,
 * ESC included) becomes a visible escape (`\x1b`, `\n`). For values nub did not write itself (a
 * Lease's holder, a lock file, a field read from the cluster): an ESC sequence in them could
 * otherwise move the cursor, rewrite earlier lines or set the terminal's title, and a newline
 * could forge a line of nub's own.
 */
export function printable(text: string): string {
	return text.replace(unprintable, character => named[character] ?? escapeCode(character.charCodeAt(0)));
}

function escapeCode(code: number): string {
	return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

// C0 (0x00-0x1f), DEL (0x7f), C1 (0x80-0x9f); and the Unicode line and paragraph
// separators and bidirectional overrides, which reorder or break what a terminal shows.
const unprintable = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
