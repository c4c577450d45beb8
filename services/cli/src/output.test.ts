import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { printable } from './output.ts';

const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

test('the characters the attacker used are marked: LRM, RLM, ALM, BOM, line separator, combining grapheme joiner', () => {
  for (const cp of [0x200e, 0x200f, 0x061c, 0xfeff, 0x2028, 0x034f]) {
    assert.equal(printable(`/a${String.fromCodePoint(cp)}b`), '/a\uFFFDb', hex(cp));
  }
});

test('every format character (Cf), bidi control, line/paragraph separator, control and default-ignorable code point is marked', () => {
  // The Unicode properties the issue names, checked independently of printable's own pattern.
  const kinds: Array<[string, RegExp]> = [
    ['Cf', /^\p{Cf}$/u], ['Bidi_Control', /^\p{Bidi_Control}$/u], ['Zl', /^\p{Zl}$/u], ['Zp', /^\p{Zp}$/u],
    ['Cc', /^\p{Cc}$/u], ['Default_Ignorable_Code_Point', /^\p{Default_Ignorable_Code_Point}$/u],
  ];
  const counts = new Map<string, number>();
  const missed: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    const kind = kinds.find(([, re]) => re.test(ch));
    if (!kind) continue;
    counts.set(kind[0], (counts.get(kind[0]) ?? 0) + 1);
    if (printable(`a${ch}b`) !== 'a\uFFFDb') missed.push(`${hex(cp)} (${kind[0]})`);
  }
  assert.deepEqual(missed, []);
  // Enough of each to know the scan saw them (Unicode 15: 170 Cf, 65 Cc, 4,000+ default-ignorable).
  assert.ok((counts.get('Cf') ?? 0) >= 160 && (counts.get('Cc') ?? 0) === 65 && (counts.get('Default_Ignorable_Code_Point') ?? 0) >= 4000, JSON.stringify([...counts]));
});

test('lone surrogates are marked; visible text, whatever its script, is kept as it is', () => {
  assert.equal(printable('a\uD800b\uDC00c'), 'a\uFFFDb\uFFFDc');
  for (const text of ['/wp-login.php?x=1&y=%20', 'Zürich', 'São Paulo', 'Москва', '東京', 'القاهرة', 'תל אביב', 'café\u0301', '😀 🇫🇷', 'Mozilla/5.0 (X11; Linux x86_64)']) {
    assert.equal(printable(text), text);
  }
});

test('a terminal escape and a bidi override cannot reach the terminal', () => {
  assert.equal(printable('ua\u001b]0;pwned\u0007 \u202Egpj.exe'), 'ua\uFFFD]0;pwned\uFFFD \uFFFDgpj.exe');
  // An astral tag character is one mark, not two.
  assert.equal(printable('x\u{E0041}y'), 'x\uFFFDy');
});
