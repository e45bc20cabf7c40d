import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { restoreUtilForTfjsNode } from '../../ml/tfjs-node-compat';

const NODE_UTIL = util as unknown as Record<string, unknown>;
const SHIMMED = ['isNullOrUndefined', 'isArray'];
const ORIGINALS = Object.fromEntries(SHIMMED.map((name) => [name, NODE_UTIL[name]]));

/** Puts node:util back as this Node had it: the tests below take helpers away as Node 24 did. */
function putBackOriginals(): void {
  for (const name of SHIMMED) {
    if (ORIGINALS[name] === undefined) delete NODE_UTIL[name];
    else NODE_UTIL[name] = ORIGINALS[name];
  }
}

/** The node:util members the shipped tfjs-node code calls (`util_1.x` where util_1 = require("util")). */
function utilMembersCalledByTfjsNode(): Set<string> {
  const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-node/package.json')), 'dist');
  const called = new Set<string>();
  const files = fs.readdirSync(dist, { recursive: true, encoding: 'utf8' });
  for (const file of files.filter((f) => f.endsWith('.js') && !f.endsWith('_test.js'))) {
    const source = fs.readFileSync(path.join(dist, file), 'utf8');
    const binding = /var (\w+) = require\("util"\);/.exec(source)?.[1];
    if (!binding) continue;
    for (const match of source.matchAll(new RegExp(`\\b${binding}\\.(\\w+)`, 'g'))) called.add(match[1]!);
  }
  return called;
}

afterEach(putBackOriginals);

describe('restoreUtilForTfjsNode', () => {
  it('restores util.isNullOrUndefined and util.isArray on a Node without them, with their old meaning', () => {
    for (const name of SHIMMED) delete NODE_UTIL[name];

    expect(restoreUtilForTfjsNode().sort()).toEqual([...SHIMMED].sort());

    const isNullOrUndefined = NODE_UTIL['isNullOrUndefined'] as (v: unknown) => boolean;
    const isArray = NODE_UTIL['isArray'] as (v: unknown) => boolean;
    expect([null, undefined, 0, '', false, Number.NaN, {}].map(isNullOrUndefined)).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect([[], [1], new Array(3), { length: 0 }, 'ab', new Float32Array(2), null].map(isArray)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it("leaves Node's own helpers in place where it still has them", () => {
    const before = SHIMMED.map((name) => NODE_UTIL[name]);
    const restoredNow = restoreUtilForTfjsNode();
    expect(restoredNow).toEqual(SHIMMED.filter((name) => ORIGINALS[name] === undefined));
    for (const [i, name] of SHIMMED.entries())
      if (before[i] !== undefined) expect(NODE_UTIL[name]).toBe(before[i]);
    expect(restoreUtilForTfjsNode()).toEqual([]);
  });

  it('covers every node:util helper the installed tfjs-node calls, besides promisify, which Node keeps', () => {
    const called = utilMembersCalledByTfjsNode();
    expect(called.has('isNullOrUndefined')).toBe(true);
    expect([...called].filter((name) => name !== 'promisify').sort()).toEqual([...SHIMMED].sort());
  });
});
