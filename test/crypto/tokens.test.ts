import test from 'ava';
import { isHubCryptoKey, makeHubCryptoKey, makePassword, makeProxyToken, rotateHubCryptoKey } from '../../lib/crypto/tokens.ts';
import { throwsCheck } from './helpers.ts';

const HUB_KEY = /^[0-9a-f]{64};[0-9a-f]{64}$/;

test('hub crypt key: two 64-char lowercase hex keys joined by ;, two different halves, fresh each call', (t) => {
  const key = makeHubCryptoKey();
  t.regex(key, HUB_KEY);
  const [a, b] = key.split(';');
  t.not(a, b);
  t.not(makeHubCryptoKey(), key);
  t.true(isHubCryptoKey(key));
});

test('isHubCryptoKey accepts only the exact format', (t) => {
  const k = 'a'.repeat(64);
  t.true(isHubCryptoKey(`${k};${'0'.repeat(64)}`));
  for (const bad of [k, `${k};`, `${k};${k};${k}`, `${'A'.repeat(64)};${k}`, `${k};${'g'.repeat(64)}`, `${k} ;${k}`, `${k};${k}\n`, 42, undefined]) {
    t.false(isHubCryptoKey(bad), String(bad));
  }
});

test('rotation puts a new key first and keeps the previous FIRST key second', (t) => {
  const current = makeHubCryptoKey();
  const [oldFirst, oldSecond] = current.split(';');
  const rotated = rotateHubCryptoKey(current);
  t.regex(rotated, HUB_KEY);
  const [newFirst, kept] = rotated.split(';');
  t.is(kept, oldFirst);
  t.not(newFirst, oldFirst);
  t.not(newFirst, oldSecond);
  t.false(rotated.includes(oldSecond!), 'the old second key is dropped');
  // rotating twice keeps the chain: each result keeps the previous first key
  t.is(rotateHubCryptoKey(rotated).split(';')[1], newFirst);
});

test('rotation accepts a single hand-made key, upper-case hex and surrounding blanks; output is canonical', (t) => {
  const single = 'AB'.repeat(32);
  const rotated = rotateHubCryptoKey(` ${single} `);
  t.regex(rotated, HUB_KEY);
  t.is(rotated.split(';')[1], single.toLowerCase());
});

test('rotation of a malformed value throws hub-key-format without echoing the value', (t) => {
  const secretish = 'S3cr3tValue-'.repeat(6);
  const good = 'c'.repeat(64);
  for (const bad of [secretish, '', ';;', `${good};${secretish}`, 'f'.repeat(63), `${good};${'f'.repeat(66)}`]) {
    const err = throwsCheck(t, () => rotateHubCryptoKey(bad), 'hub-key-format');
    t.false(err.message.includes('S3cr3t'), err.message);
    t.false(err.message.includes('ffffffff'), err.message);
    t.false(err.message.includes('cccccccc'), err.message);
  }
  t.regex(t.throws(() => rotateHubCryptoKey(`${good};${secretish}`))!.message, /key 2 of 2/);
  throwsCheck(t, () => rotateHubCryptoKey(42 as unknown as string), 'hub-key-format');
});

test('proxy token: 64 lowercase hex characters (32 bytes), fresh each call', (t) => {
  const token = makeProxyToken();
  t.regex(token, /^[0-9a-f]{64}$/);
  t.not(makeProxyToken(), token);
});

test('password: base64url without padding, length from the byte count, fresh each call', (t) => {
  const password = makePassword();
  t.regex(password, /^[A-Za-z0-9_-]{32}$/);
  t.is(Buffer.from(password, 'base64url').length, 24);
  t.not(makePassword(), password);
  t.regex(makePassword(16), /^[A-Za-z0-9_-]{22}$/);
  t.regex(makePassword(100), /^[A-Za-z0-9_-]{134}$/);
  const many = new Set(Array.from({ length: 200 }, () => makePassword()));
  t.is(many.size, 200);
  // with enough samples every base64url character class shows up, so the alphabet really is URL-safe base64
  const joined = [...many].join('');
  t.regex(joined, /[A-Z]/);
  t.regex(joined, /[a-z]/);
  t.regex(joined, /[0-9]/);
  t.regex(joined, /[-_]/);
  for (const bad of [0, 8, 15, 1.5, 2000]) t.is(t.throws(() => makePassword(bad))!.constructor.name, 'CryptoError');
});
