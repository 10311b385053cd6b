import test from 'ava';
import { CryptoError, isCryptoError } from '../../lib/crypto/errors.ts';

test('CryptoError carries the check, a name, and a single-line message', (t) => {
  const err = new CryptoError('chain', 'first line\nsecond line\r\n  third');
  t.true(err instanceof Error);
  t.is(err.name, 'CryptoError');
  t.is(err.check, 'chain');
  t.is(err.message, 'first line second line third');
});

test('CryptoError keeps the cause for debugging', (t) => {
  const cause = new Error('low level');
  t.is(new CryptoError('parse', 'bad', { cause }).cause, cause);
});

test('isCryptoError narrows by check', (t) => {
  const err = new CryptoError('expired', 'old');
  t.true(isCryptoError(err));
  t.true(isCryptoError(err, 'expired'));
  t.false(isCryptoError(err, 'chain'));
  t.false(isCryptoError(new Error('x')));
});
