import { describe, expect, it } from 'vitest';
import { BufferReader } from '../src/reader.js';
import { parseMbr } from '../parsers/partitions/mbr.js';
import { crc32, parseGpt } from '../parsers/partitions/gpt.js';
import { detectVolumes } from '../src/volumes.js';

const S = 512;

function mbrEntry(buf: Buffer, at: number, type: number, lba: number, count: number): void {
  const o = at + 446;
  buf[o] = 0x00;
  buf[o + 4] = type;
  buf.writeUInt32LE(lba, o + 8);
  buf.writeUInt32LE(count, o + 12);
}

function signature(buf: Buffer, at: number): void {
  buf[at + 510] = 0x55;
  buf[at + 511] = 0xaa;
}

describe('MBR', () => {
  it('reads primary partitions and follows the extended chain to the logical ones', () => {
    const disk = Buffer.alloc(64 * 1024 * 1024);
    mbrEntry(disk, 0, 0x0c, 8192, 32768); // sdX1 at 4 MiB
    mbrEntry(disk.subarray(0, 512), 16, 0x05, 40960, 65536); // extended container
    signature(disk, 0);
    // First EBR at 40960: logical at +2048, next EBR at +32768 (relative to the extended start).
    const ebr1 = 40960 * S;
    mbrEntry(disk, ebr1, 0x06, 2048, 8192);
    mbrEntry(disk.subarray(ebr1, ebr1 + 512), 16, 0x05, 32768, 16384);
    signature(disk, ebr1);
    const ebr2 = (40960 + 32768) * S;
    mbrEntry(disk, ebr2, 0x0b, 2048, 4096);
    signature(disk, ebr2);
    const r = parseMbr(new BufferReader(disk))!;
    expect(r.protective).toBe(false);
    expect(r.partitions.map((p) => [p.number, p.offset / S, p.length / S, p.type])).toEqual([
      [1, 8192, 32768, '0x0c'],
      [5, 40960 + 2048, 8192, '0x06'],
      [6, 40960 + 32768 + 2048, 4096, '0x0b'],
    ]);
  });

  it('does not loop forever on an extended chain that points back at itself', () => {
    const disk = Buffer.alloc(8 * 1024 * 1024);
    mbrEntry(disk, 0, 0x05, 2048, 8192);
    signature(disk, 0);
    const ebr1 = 2048 * S;
    mbrEntry(disk, ebr1, 0x06, 64, 128);
    mbrEntry(disk.subarray(ebr1, ebr1 + 512), 16, 0x05, 4096, 4096);
    signature(disk, ebr1);
    // The second EBR's link points at itself.
    const ebr2 = (2048 + 4096) * S;
    mbrEntry(disk, ebr2, 0x06, 64, 128);
    mbrEntry(disk.subarray(ebr2, ebr2 + 512), 16, 0x05, 4096, 4096);
    signature(disk, ebr2);
    const r = parseMbr(new BufferReader(disk))!;
    expect(r.partitions).toHaveLength(2);
    expect(r.diagnostics.items.some((d) => d.code === 'mbr.ebr-loop')).toBe(true);
  });

  it('is not confused by sector 0 being a boot sector without a table', () => {
    const disk = Buffer.alloc(1024 * 1024);
    signature(disk, 0);
    expect(parseMbr(new BufferReader(disk))).toBeNull();
    expect(detectVolumes(new BufferReader(disk)).scheme).toBe('none');
  });
});

describe('GPT', () => {
  function gptDisk(damagePrimary: boolean): Buffer {
    const sectors = 16384;
    const disk = Buffer.alloc(sectors * S);
    mbrEntry(disk, 0, 0xee, 1, sectors - 1);
    signature(disk, 0);
    const entries = Buffer.alloc(128 * 128);
    // Microsoft basic data, LBA 2048..10239, named "CARD".
    Buffer.from('a2a0d0ebe5b9334487c068b6b72699c7', 'hex').copy(entries, 0);
    entries[16] = 1;
    entries.writeBigUInt64LE(2048n, 32);
    entries.writeBigUInt64LE(10239n, 40);
    entries.write('CARD', 56, 'utf16le');
    const header = (myLba: number, entriesLba: number) => {
      const h = Buffer.alloc(S);
      h.write('EFI PART', 0, 'latin1');
      h.writeUInt32LE(0x00010000, 8);
      h.writeUInt32LE(92, 12);
      h.writeBigUInt64LE(BigInt(myLba), 24);
      h.writeBigUInt64LE(BigInt(entriesLba), 72);
      h.writeUInt32LE(128, 80);
      h.writeUInt32LE(128, 84);
      h.writeUInt32LE(crc32(entries), 88);
      h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
      return h;
    };
    header(1, 2).copy(disk, S);
    entries.copy(disk, 2 * S);
    header(sectors - 1, sectors - 33).copy(disk, (sectors - 1) * S);
    entries.copy(disk, (sectors - 33) * S);
    if (damagePrimary) disk[S + 30] ^= 0xff;
    return disk;
  }

  it('reads the partition entries behind a protective MBR', () => {
    const layout = detectVolumes(new BufferReader(gptDisk(false)));
    expect(layout.scheme).toBe('gpt');
    expect(layout.volumes.map((v) => [v.offset / S, v.length / S, v.partition?.typeName, v.partition?.name])).toEqual([[2048, 8192, 'Microsoft basic data', 'CARD']]);
    expect(layout.gaps.length).toBeGreaterThan(0);
  });

  it('uses the backup header when the primary one is damaged', () => {
    const r = parseGpt(new BufferReader(gptDisk(true)))!;
    expect(r.partitions).toHaveLength(1);
    expect(r.diagnostics.items.some((d) => d.code === 'gpt.primary-damaged')).toBe(true);
  });
});
