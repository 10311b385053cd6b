import test from 'ava';
import { printable } from '../../lib/engine/printable.ts';

const cases: Array<[string, string, string]> = [
	['plain text is kept', 'pid 12@host (nub run all)', 'pid 12@host (nub run all)'],
	['an ESC sequence shows as \\x1b', '\u001b]0;pwned\u0007\u001b[2J', '\\x1b]0;pwned\\x07\\x1b[2J'],
	['a newline cannot forge a line', 'a\nnub: done\r', 'a\\nnub: done\\r'],
	['C1 controls and DEL', '\u009b31m\u007f', '\\x9b31m\\x7f'],
	['bidirectional overrides and line separators', 'abc\u202edcb\u2028', 'abc\\u202edcb\\u2028'],
	['accents and emoji are kept', 'café ☕', 'café ☕'],
];

for (const [title, input, expected] of cases) {
	test(`printable: ${title}`, t => {
		t.is(printable(input), expected);
		// Nothing a terminal acts on is left, and escaping twice changes nothing.
		t.false(/[\u0000-\u001f\u007f-\u009f]/.test(printable(input)));
		t.is(printable(printable(input)), printable(input));
	});
}
