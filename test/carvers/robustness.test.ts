import { describe, expect, it } from 'vitest';
import { carvers } from '../../carvers/registry.js';
import type { WalkResult } from '../../carvers/types.js';
import { HAVE_SAMPLES, bitFlipped, randomBytes, readSample, walkBuffer } from './helpers.js';

/** One file per structure family: the walkers must survive any damage to these. */
const VICTIMS = [
  'jpeg/canon_eos_rp/_MG_0635.JPG', // MPF
  'jpeg/samsung_sm_g935l/Samsung_SM-G935L_Galaxy_S7_Edge.jpg', // SEF trailer
  'mpo/nintendo_3ds/sugarshack.mpo',
  'structure/NikonD70_exiftool-stripped.NEF', // Nikon maker note with its own TIFF header
  'structure/CanonEOS350D_exiftool-stripped.CR2',
  'structure/CanonEOS350D_exiftool-stripped.DNG',
  'structure/PanasonicLX3_exiftool-stripped.RW2',
  'structure/SonyZVE10_truncated-100000.ARW',
  'structure/CanonEOSM50_exiftool-stripped.CR3',
  'heic/apple_iphone_xr/IMG_3578.HEIC',
  'mov/panasonic_pv_sd4090/P1000244.MOV',
  'avi/canon_powershot_s40/MVI_0121.AVI',
  'crw/canon_powershot_g2/CRW_0313.CRW',
  'structure/FujiS5Pro_exiftool-stripped.RAF',
  'mts/sony_ilce_7m3/Sony_ILCE-7M3_A7M3.mts',
  'mpg/sony_dsc_p5/DSC00010.MPG',
];

/** A result must be a result: a sane length within the limit, or a reason. */
function checkResult(r: WalkResult, maxLength: number): void {
  if (r.ok) {
    expect(r.length).toBeGreaterThan(0);
    expect(r.length).toBeLessThanOrEqual(maxLength);
    expect(typeof r.format).toBe('string');
  } else {
    expect(r.reason.length).toBeGreaterThan(0);
    if (r.validUpTo !== undefined) expect(r.validUpTo).toBeLessThanOrEqual(maxLength);
  }
}

describe.skipIf(!HAVE_SAMPLES)('carvers survive damaged real files', () => {
  it.each(VICTIMS)('%s: bit flips in the headers and anywhere, and truncations, never throw', (rel) => {
    const file = readSample(rel);
    const variants: Buffer[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      variants.push(bitFlipped(file, 1 + (seed % 8), seed, 4096)); // structure lives up front
      variants.push(bitFlipped(file, 1 + (seed % 4), seed + 1000));
    }
    for (let k = 1; k <= 20; k++) variants.push(file.subarray(0, Math.floor((file.length * k) / 21)));
    for (const v of variants) {
      for (const c of carvers) {
        const r = walkBuffer(c, v);
        checkResult(r, v.length);
      }
    }
  });
});

describe('carvers on junk', () => {
  it('zero-filled buffers: no carver detects them', () => {
    for (const n of [1, 8, 64, 4096]) for (const c of carvers) expect(c.detect(Buffer.alloc(n)), c.id).toBe(false);
  });

  it('0xFF-filled (erased flash) and short buffers: no throw, no file', () => {
    for (const buf of [Buffer.alloc(65536, 0xff), Buffer.from([0xff]), Buffer.from([0xff, 0xd8]), Buffer.alloc(0), Buffer.from('RIFF'), Buffer.from('II*\0')]) {
      for (const c of carvers) {
        c.detect(buf);
        expect(walkBuffer(c, buf).ok).toBe(false);
      }
    }
  });

  it('headers followed by random bytes never walk to a file', () => {
    const heads = [
      Buffer.from([0xff, 0xd8, 0xff, 0xe1]),
      Buffer.from('II*\0\x08\0\0\0', 'latin1'),
      Buffer.from('MM\0*\0\0\0\x08', 'latin1'),
      Buffer.from('\0\0\0\x18ftypcrx \0\0\0\x01crx isom', 'latin1'),
      Buffer.from('RIFF\xff\xff\0\0AVI ', 'latin1'),
    ];
    for (const head of heads) {
      for (let seed = 1; seed <= 300; seed++) {
        const buf = Buffer.concat([head, randomBytes(4096, seed)]);
        for (const c of carvers) expect(walkBuffer(c, buf).ok, `${c.id} ${head.toString('latin1', 0, 4)} ${seed}`).toBe(false);
      }
    }
  });
});
