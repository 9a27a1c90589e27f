/** io/pickle.ts: the restricted pickle VM (no torch knowledge beyond the allow-list it is given). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraftError } from '../src/errors';
import { PickleTruncated, unpickle } from '../src/io/pickle';

test('pickle VM: refuses globals at GLOBAL time, bounds the stack and memo, reports truncation', () => {
  const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
  // GLOBAL 'os system' is refused even though REDUCE never comes.
  assert.throws(() => unpickle(bytes('\x80\x02cos\nsystem\n.'), { file: 'f' }), (e: GraftError) => e.code === 'UNSAFE' && e.message.includes("'os.system'"));
  // STACK_GLOBAL 'builtins getattr'.
  assert.throws(() => unpickle(bytes('\x80\x04\x8c\x08builtins\x8c\x07getattr\x93.'), { file: 'f' }), (e: GraftError) => e.code === 'UNSAFE' && e.message.includes('builtins.getattr'));
  assert.throws(() => unpickle(bytes('\x80\x02c__builtin__\ngetattr\n.'), { file: 'f' }), (e: GraftError) => e.code === 'UNSAFE');
  // Allowed: an OrderedDict with one item, a tuple, a float, a long, bytes.
  const ok = unpickle(bytes('\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aK\x05s.'), { file: 'f' });
  const d = ok.value as { entries: Map<unknown, unknown>; className: string };
  assert.equal(d.className, 'OrderedDict');
  assert.equal(d.entries.get('a'), 5);
  const misc = unpickle(bytes('\x80\x03(G?\xf8\x00\x00\x00\x00\x00\x00\x8a\x02\x00\x80C\x02hi\x88N\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01t.'), { file: 'f' }).value as unknown[];
  assert.deepEqual(misc.slice(0, 5), [1.5, -32768, Uint8Array.from([0x68, 0x69]), true, null]);
  assert.equal(misc[5], 1n << 64n);
  // Memo lookups of indices never stored.
  assert.throws(() => unpickle(bytes('\x80\x02h\x07.'), { file: 'f' }), (e: GraftError) => e.code === 'CORRUPT' && /memo index 7/.test(e.message));
  // A string longer than the remaining bytes: truncated, never allocated.
  assert.throws(() => unpickle(bytes('\x80\x02X\xff\xff\xff\x7fab'), { file: 'f' }), PickleTruncated);
  // Stack depth bound.
  assert.throws(() => unpickle(bytes('\x80\x02' + 'N'.repeat(50) + '.'), { file: 'f', maxStack: 10 }), (e: GraftError) => e.code === 'CORRUPT' && /stack deeper/.test(e.message));
  // Memo size bound.
  assert.throws(() => unpickle(bytes('\x80\x04N\x94\x94\x94\x94.'), { file: 'f', maxMemo: 2 }), (e: GraftError) => e.code === 'CORRUPT' && /memo larger/.test(e.message));
  // Unknown opcode.
  assert.throws(() => unpickle(bytes('\x80\x02\xff'), { file: 'f' }), (e: GraftError) => e.code === 'CORRUPT' && /unknown opcode 0xff/.test(e.message));
  // REDUCE on a non-callable, and a tensor rebuild without a storage.
  assert.throws(() => unpickle(bytes('\x80\x02K\x01)R.'), { file: 'f' }), (e: GraftError) => e.code === 'CORRUPT');
  assert.throws(() => unpickle(bytes('\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00)))\x89NtR.'), { file: 'f' }), (e: GraftError) => e.code === 'CORRUPT' && /without a storage/.test(e.message));
});

test('pickle VM: protocol-0 UNICODE escapes decode; a code point past U+10FFFF is CORRUPT, not a RangeError', () => {
  const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
  assert.equal(unpickle(bytes('V\\u00e9t\\U0001d535\n.'), { file: 'f' }).value, 'ét𝔵');
  assert.equal(unpickle(bytes('V\\U0010ffff\n.'), { file: 'f' }).value, String.fromCodePoint(0x10ffff));
  for (const escape of ['\\U00110000', '\\Uffffffff']) {
    assert.throws(() => unpickle(bytes(`V${escape}\n.`), { file: 'f' }), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /beyond U\+10FFFF/.test(e.message) && e.message.startsWith('f: '));
  }
  // BINUNICODE holding the UTF-8 form of 0x110000 (F4 90 80 80) is not UTF-8 at all.
  assert.throws(() => unpickle(bytes('X\x04\x00\x00\x00\xf4\x90\x80\x80.'), { file: 'f' }), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /not valid UTF-8/.test(e.message));
});
