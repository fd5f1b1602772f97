import { describe, expect, it } from 'vitest';
import { buildSignatureTable, carverForType, carvers, detectAt, zeroHead } from '../../carvers/registry.js';
import { HAVE_SAMPLES, randomBytes, readSample, samples, walkBuffer } from './helpers.js';

describe('carver registry', () => {
  it('maps every --types name to one carver', () => {
    const expected: Record<string, string> = {
      jpg: 'jpeg', jpeg: 'jpeg', mpo: 'jpeg',
      cr3: 'bmff', mov: 'bmff', mp4: 'bmff', heic: 'bmff',
      nef: 'tiff', cr2: 'tiff', arw: 'tiff', dng: 'tiff', orf: 'tiff', rw2: 'tiff', pef: 'tiff', tif: 'tiff',
      avi: 'riff', wav: 'riff',
      crw: 'crw', raf: 'raf', mts: 'mpegts', m2ts: 'mpegts', mpg: 'mpegps',
    };
    for (const [name, id] of Object.entries(expected)) expect(carverForType(name)?.id, name).toBe(id);
    expect(carverForType(' JPG ')?.id).toBe('jpeg');
    expect(carverForType('doc')).toBeUndefined();
    const all = carvers.flatMap((c) => c.types);
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(carvers.map((c) => c.id)).size).toBe(carvers.length);
  });

  it('buckets carvers by first byte', () => {
    const table = buildSignatureTable(carvers);
    expect(table).toHaveLength(256);
    expect(table[0xff].map((c) => c.id)).toContain('jpeg');
    expect(table[0x49].map((c) => c.id)).toContain('tiff');
    expect(table[0x4d].map((c) => c.id)).toContain('tiff');
    expect(table[0x52].map((c) => c.id)).toContain('riff');
    expect(table[0x00].map((c) => c.id)).toContain('bmff');
    expect(buildSignatureTable([carverForType('jpg')!]).filter((b) => b.length > 0)).toHaveLength(1);
  });

  it('no carver takes a start whose first 8 bytes are zeros, which the scan skips untested', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const head = randomBytes(64, seed);
      head.fill(0, 0, 8);
      // Some tails that look like the start of a box or a pack, after the zeros.
      if (seed % 3 === 0) head.write('ftypqt  ', 8 - (seed % 5), 'latin1');
      if (seed % 3 === 1) head.set([0x00, 0x00, 0x01, 0xba, 0x44], 8 - (seed % 4));
      head.fill(0, 0, 8);
      expect(zeroHead(head, 0)).toBe(true);
      for (const c of carvers) expect(c.detect(head), `${c.id} seed ${seed}`).toBe(false);
    }
    const one = Buffer.alloc(64);
    one[7] = 1;
    expect(zeroHead(one, 0)).toBe(false);
    expect(zeroHead(Buffer.alloc(7), 0)).toBe(false);
    expect(zeroHead(Buffer.alloc(16), 8)).toBe(true);
  });

  it('zero-filled space matches no carver; random bytes never walk to a file', () => {
    const table = buildSignatureTable(carvers);
    expect(detectAt(Buffer.alloc(64), table)).toEqual([]);
    expect(detectAt(Buffer.alloc(0), table)).toEqual([]);
    for (let seed = 1; seed <= 2000; seed++) {
      const buf = randomBytes(seed % 7 === 0 ? 65536 : 1024, seed);
      for (const c of carvers) expect(walkBuffer(c, buf).ok, `${c.id} seed ${seed}`).toBe(false);
      for (const c of detectAt(buf.subarray(0, 64), table)) expect(walkBuffer(c, buf).ok).toBe(false);
    }
  });
});

const ALL_SAMPLES: [string, string][] = [
  ...samples('jpeg', /\.jpe?g$/i).map((r): [string, string] => [r, 'jpeg']),
  ...samples('mpo', /\.mpo$/i).map((r): [string, string] => [r, 'jpeg']),
  ...samples('', /\.thm$/i).map((r): [string, string] => [r, 'jpeg']),
  ...samples('', /\.(mov|mp4|heic|cr3)$/i).map((r): [string, string] => [r, 'bmff']),
  ...samples('', /\.(cr2|nef|dng|gpr|arw|rw2)$/i).map((r): [string, string] => [r, 'tiff']),
  ...samples('avi', /\.avi$/i).map((r): [string, string] => [r, 'riff']),
  ...samples('crw', /\.crw$/i).map((r): [string, string] => [r, 'crw']),
  ...samples('', /\.raf$/i).map((r): [string, string] => [r, 'raf']),
  ...samples('mts', /\.mts$/i).map((r): [string, string] => [r, 'mpegts']),
  ...samples('mpg', /\.mpg$/i).map((r): [string, string] => [r, 'mpegps']),
];

describe.skipIf(!HAVE_SAMPLES)('carver registry: real camera files', () => {
  it.each(ALL_SAMPLES)('%s is detected by exactly its carver', (rel, id) => {
    const head = readSample(rel).subarray(0, 64);
    expect(detectAt(head, buildSignatureTable(carvers)).map((c) => c.id)).toEqual([id]);
  });
});
