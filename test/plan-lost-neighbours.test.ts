import { describe, expect, it } from 'vitest';
import { planVolume, type Validator } from '../src/plan.js';
import { BufferReader } from '../src/reader.js';
import type { ClusterExtent, FileSystem, FsEntry } from '../parsers/types.js';
import type { Volume } from '../src/volumes.js';

const CS = 512;
const CLUSTERS = 64;

/** Clusters 2.. from byte 0; nothing allocated (a quick-formatted card); every entry an orphan. */
function fsWith(entries: FsEntry[]): FileSystem {
  return {
    type: 'FAT16',
    geometry: { bytesPerSector: 512, sectorsPerCluster: 1, clusterSize: CS, clusterCount: CLUSTERS, dataOffset: 0, volumeSize: (CLUSTERS + 2) * CS } as FileSystem['geometry'],
    clusterOffset: (c) => (c - 2) * CS,
    isAllocated: () => false,
    guessRun: (first, size): ClusterExtent[] => [{ first, count: Math.ceil(size / CS) }],
    entries,
    diagnostics: [],
  };
}

function orphan(name: string, first: number, size: number, deleted = false): FsEntry {
  return { folder: ['DCIM', '100CANON'], name, isDirectory: false, deleted, orphan: true, size, firstCluster: first, extents: [{ first, count: Math.ceil(size / CS) }], basis: 'contiguous-guess', attributes: 0x20, notes: [] };
}

const disk = new BufferReader(Buffer.alloc((CLUSTERS + 2) * CS));
const volume: Volume = { index: 0, offset: 0, length: disk.size, reader: disk };
// A walker that cannot see inside the media data: it passes every guess (as the box walk of a CR3 does).
const passes: Validator = () => ({ ok: true, by: 'bmff', format: 'cr3' });

describe('lost files of the same folders', () => {
  it('a guess that runs over the first cluster of another live file is not written: that file was fragmented there', () => {
    const big = orphan('IMG_0001.CR3', 10, 8 * CS);
    const small = orphan('IMG_5002.JPG', 13, 2 * CS);
    const plan = planVolume(disk, volume, fsWith([big, small]), { validate: passes, orphans: false });
    expect(plan.files.map((f) => f.name)).toEqual(['IMG_5002.JPG']);
    expect(plan.skipped).toHaveLength(1);
    expect(plan.skipped[0].reason).toMatch(/runs over the first cluster of \/DCIM\/100CANON\/IMG_5002\.JPG/);
    // Its clusters go to the reassembly and carving pool, with its name and size.
    expect(plan.unplaced).toContain(big);
    expect(plan.owned.isOwned(10)).toBe(false);
    expect(plan.owned.isOwned(13)).toBe(true);
  });

  it('an entry deleted before the folder was lost says nothing: its clusters may hold anything now', () => {
    const big = orphan('IMG_0001.CR3', 10, 8 * CS);
    const stale = orphan('IMG_8002.JPG', 13, 2 * CS, true);
    const plan = planVolume(disk, volume, fsWith([big, stale]), { validate: passes, orphans: false });
    expect(plan.files.map((f) => f.name)).toContain('IMG_0001.CR3');
  });

  it('files side by side keep their guesses', () => {
    const a = orphan('IMG_0001.CR3', 10, 3 * CS);
    const b = orphan('IMG_0002.CR3', 13, 2 * CS);
    const plan = planVolume(disk, volume, fsWith([a, b]), { validate: passes, orphans: false });
    expect(plan.files.map((f) => f.name).sort()).toEqual(['IMG_0001.CR3', 'IMG_0002.CR3']);
    expect(plan.skipped).toHaveLength(0);
  });

  it("a picture with bytes kept after its end is not decoded again when its clusters end where the next live file begins", () => {
    const trailer: Validator = () => ({ ok: true, by: 'jpeg', format: 'jpeg', suspect: 'the image ends 20 bytes before the size the entry gives', tailKept: 20 });
    const tiled = planVolume(disk, volume, fsWith([orphan('IMG_0001.JPG', 10, 3 * CS), orphan('IMG_0002.JPG', 13, CS)]), { validate: trailer, orphans: false });
    const first = tiled.files.find((f) => f.name === 'IMG_0001.JPG')!;
    expect(first.suspect).toBeUndefined();
    expect(first.notes.join(' ')).toMatch(/end where the next file begins/);
    // With a cluster of unknown bytes before the next file, it stays suspect (decoded in full later).
    const loose = planVolume(disk, volume, fsWith([orphan('IMG_0001.JPG', 10, 3 * CS), orphan('IMG_0002.JPG', 14, CS)]), { validate: trailer, orphans: false });
    expect(loose.files.find((f) => f.name === 'IMG_0001.JPG')!.suspect).toMatch(/ends 20 bytes before/);
    // Unless that cluster starts like a file (a photo whose entry was deleted before, say).
    const card = Buffer.alloc((CLUSTERS + 2) * CS);
    Buffer.from('ffd8ffe1001845786966', 'hex').copy(card, (13 - 2) * CS);
    const withPhoto = new BufferReader(card);
    const jpegStart = (head: Buffer) => head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
    const told = planVolume(withPhoto, { ...volume, reader: withPhoto }, fsWith([orphan('IMG_0001.JPG', 10, 3 * CS), orphan('IMG_0002.JPG', 14, CS)]), { validate: trailer, orphans: false, startsFile: jpegStart });
    expect(told.files.find((f) => f.name === 'IMG_0001.JPG')!.suspect).toBeUndefined();
  });
});
