/**
 * Hand-built exFAT volumes for tests that must not need root: just enough of the
 * specification to lay out a boot region, FATs, allocation bitmap, up-case table and
 * directories whose entry sets we choose byte by byte. Checksums are computed here
 * independently of the parser.
 */

export const END = 0xffffffff;

export interface Timestamp {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0..199, 10 ms steps */
  increment10ms?: number;
  /** UtcOffset byte as stored (bit 7 = valid). */
  utcOffset?: number;
}

export function packTimestamp(t: Timestamp): number {
  return (
    (((t.year - 1980) << 25) | (t.month << 21) | (t.day << 16) | (t.hour << 11) | (t.minute << 5) | Math.floor(t.second / 2)) >>> 0
  );
}

export function setChecksum(bytes: Buffer): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i === 2 || i === 3) continue;
    sum = ((sum & 1 ? 0x8000 : 0) + (sum >> 1) + bytes[i]) & 0xffff;
  }
  return sum;
}

function checksum32(bytes: Buffer, skip: (i: number) => boolean = () => false): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (skip(i)) continue;
    sum = ((sum & 1 ? 0x80000000 : 0) + Math.floor(sum / 2) + bytes[i]) % 0x100000000;
  }
  return sum;
}

function nameHash(name: string): number {
  let hash = 0;
  for (const unit of Buffer.from(name.replace(/[a-z]/g, (ch) => ch.toUpperCase()), 'utf16le')) hash = ((hash & 1 ? 0x8000 : 0) + (hash >> 1) + unit) & 0xffff;
  return hash;
}

export interface SetOptions {
  name: string;
  attributes?: number;
  firstCluster: number;
  dataLength: number;
  validDataLength?: number;
  noFatChain?: boolean;
  /** Clear the in-use bit of every entry after computing the checksum, as deletion does. */
  deleted?: boolean;
  created?: Timestamp;
  modified?: Timestamp;
  accessed?: Timestamp;
  /** Corrupt the stored SetChecksum. */
  badChecksum?: boolean;
}

const DEFAULT_TIME: Timestamp = { year: 2024, month: 5, day: 1, hour: 10, minute: 20, second: 30, utcOffset: 0x80 };

/** A File + Stream Extension + File Name × n entry set. */
export function makeEntrySet(o: SetOptions): Buffer {
  const units = Buffer.from(o.name, 'utf16le');
  const nameEntries = Math.ceil(units.length / 30);
  const set = Buffer.alloc(32 * (2 + nameEntries));
  const c = o.created ?? DEFAULT_TIME;
  const m = o.modified ?? DEFAULT_TIME;
  const a = o.accessed ?? DEFAULT_TIME;
  set[0] = 0x85;
  set[1] = 1 + nameEntries;
  set.writeUInt16LE(o.attributes ?? 0x20, 4);
  set.writeUInt32LE(packTimestamp(c), 8);
  set.writeUInt32LE(packTimestamp(m), 12);
  set.writeUInt32LE(packTimestamp(a), 16);
  set[20] = (c.increment10ms ?? 0) + (c.second % 2) * 100;
  set[21] = (m.increment10ms ?? 0) + (m.second % 2) * 100;
  set[22] = c.utcOffset ?? 0;
  set[23] = m.utcOffset ?? 0;
  set[24] = a.utcOffset ?? 0;
  const s = 32;
  set[s] = 0xc0;
  set[s + 1] = 0x01 | (o.noFatChain ? 0x02 : 0);
  set[s + 3] = o.name.length;
  set.writeUInt16LE(nameHash(o.name), s + 4);
  set.writeBigUInt64LE(BigInt(o.validDataLength ?? o.dataLength), s + 8);
  set.writeUInt32LE(o.firstCluster, s + 20);
  set.writeBigUInt64LE(BigInt(o.dataLength), s + 24);
  for (let n = 0; n < nameEntries; n++) {
    const off = 64 + n * 32;
    set[off] = 0xc1;
    units.copy(set, off + 2, n * 30, Math.min(units.length, (n + 1) * 30));
  }
  set.writeUInt16LE(setChecksum(set) ^ (o.badChecksum ? 0x5a5a : 0), 2);
  if (o.deleted) for (let off = 0; off < set.length; off += 32) set[off] &= 0x7f;
  return set;
}

export interface ImageOptions {
  clusterCount?: number;
  /** log2 sectors per cluster (512-byte sectors). */
  sectorsPerClusterShift?: number;
  fats?: 1 | 2;
  activeFat?: 0 | 1;
  label?: string;
  serial?: number;
  rootClusters?: number;
}

interface Dir {
  clusters: number[];
  entries: Buffer[];
}

export class ExfatImage {
  readonly bytesPerSector = 512;
  readonly clusterSize: number;
  readonly clusterCount: number;
  readonly fatOffset = 24;
  readonly fatLength: number;
  readonly heapOffset: number;
  readonly fats: number;
  readonly activeFat: number;
  readonly volumeLength: number;
  readonly fat: Uint32Array[] = [];
  readonly bitmap: Uint8Array;
  readonly root: number;
  readonly bitmapClusters: number[] = [];
  readonly upcaseCluster: number;
  upcaseChecksum: number;
  private readonly upcase: Buffer;
  private readonly data = new Map<number, Buffer>();
  private readonly dirs = new Map<number, Dir>();
  private readonly rootDir: Dir;

  constructor(private readonly o: ImageOptions = {}) {
    this.clusterSize = 512 << (o.sectorsPerClusterShift ?? 1);
    this.clusterCount = o.clusterCount ?? 200;
    this.fats = o.fats ?? 1;
    this.activeFat = o.activeFat ?? 0;
    this.fatLength = Math.ceil(((this.clusterCount + 2) * 4) / 512);
    this.heapOffset = Math.ceil((this.fatOffset + this.fats * this.fatLength) / 8) * 8;
    this.volumeLength = this.heapOffset + (this.clusterCount * this.clusterSize) / 512;
    for (let i = 0; i < this.fats; i++) {
      const f = new Uint32Array(this.clusterCount + 2);
      f[0] = 0xfffffff8;
      f[1] = 0xffffffff;
      this.fat.push(f);
    }
    this.bitmap = new Uint8Array(Math.ceil(this.clusterCount / 8));
    for (let i = 0; i < this.fats; i++) this.bitmapClusters.push(this.alloc(1, true)[0]);
    // Up-case table: identity for 0..0x60, a–z → A–Z, identity after (compressed form).
    const words = [0xffff, 0x61];
    for (let ch = 0x61; ch <= 0x7a; ch++) words.push(ch - 0x20);
    this.upcase = Buffer.alloc(words.length * 2);
    words.forEach((w, i) => this.upcase.writeUInt16LE(w, i * 2));
    this.upcaseChecksum = checksum32(this.upcase);
    this.upcaseCluster = this.alloc(1, true)[0];
    this.data.set(this.upcaseCluster, this.upcase);
    const rootClusters = this.alloc(o.rootClusters ?? 1, true);
    this.root = rootClusters[0];
    this.rootDir = { clusters: rootClusters, entries: [] };
    this.dirs.set(this.root, this.rootDir);
  }

  /** The first free run of `n` clusters, marked in use; with `chain`, linked in the FAT. */
  alloc(n: number, chain = false): number[] {
    for (let first = 2; first + n - 1 <= this.clusterCount + 1; first++) {
      let ok = true;
      for (let c = first; c < first + n; c++) if (this.isAllocated(c)) ok = false;
      if (!ok) continue;
      const out: number[] = [];
      for (let c = first; c < first + n; c++) {
        this.setAllocated(c, true);
        out.push(c);
      }
      if (chain) this.link(out);
      return out;
    }
    throw new Error('test image full');
  }

  isAllocated(c: number): boolean {
    return (this.bitmap[(c - 2) >> 3] & (1 << ((c - 2) & 7))) !== 0;
  }

  setAllocated(c: number, yes: boolean): void {
    if (yes) this.bitmap[(c - 2) >> 3] |= 1 << ((c - 2) & 7);
    else this.bitmap[(c - 2) >> 3] &= ~(1 << ((c - 2) & 7));
  }

  /** Chain clusters in the FAT (every copy), last one END. */
  link(clusters: number[]): void {
    for (const f of this.fat) clusters.forEach((c, i) => (f[c] = i + 1 < clusters.length ? clusters[i + 1] : END));
  }

  setFat(c: number, value: number): void {
    for (const f of this.fat) f[c] = value;
  }

  write(clusters: number[], bytes: Buffer): void {
    clusters.forEach((c, i) => {
      const part = bytes.subarray(i * this.clusterSize, (i + 1) * this.clusterSize);
      if (part.length) this.data.set(c, Buffer.from(part));
    });
  }

  /** Put raw entries into a directory (by its first cluster). */
  addEntries(dir: number, ...entries: Buffer[]): void {
    const d = this.dirs.get(dir);
    if (!d) throw new Error(`no directory at ${dir}`);
    d.entries.push(...entries);
  }

  addFile(
    dir: number,
    name: string,
    content: Buffer,
    opts: Partial<SetOptions> & { clusters?: number[]; keepChain?: boolean } = {},
  ): { clusters: number[]; set: Buffer } {
    const n = Math.ceil(content.length / this.clusterSize);
    const clusters = opts.clusters ?? (n ? this.alloc(n) : []);
    for (const c of clusters) this.setAllocated(c, true);
    if (!opts.noFatChain && clusters.length) this.link(clusters);
    this.write(clusters, content);
    const set = makeEntrySet({ name, firstCluster: clusters[0] ?? 0, dataLength: content.length, ...opts });
    this.addEntries(dir, set);
    if (opts.deleted) {
      for (const c of clusters) {
        this.setAllocated(c, false);
        if (!opts.keepChain && !opts.noFatChain) this.setFat(c, 0);
      }
    }
    return { clusters, set };
  }

  addDir(dir: number, name: string, opts: Partial<SetOptions> & { clusters?: number; at?: number[] } = {}): number {
    const clusters = opts.at ?? this.alloc(opts.clusters ?? 1);
    if (!opts.noFatChain) this.link(clusters);
    const set = makeEntrySet({ name, attributes: 0x10, firstCluster: clusters[0], dataLength: clusters.length * this.clusterSize, ...opts });
    this.addEntries(dir, set);
    if (!this.dirs.has(clusters[0])) this.dirs.set(clusters[0], { clusters, entries: [] });
    // A deleted folder keeps its clusters marked in use until the caller frees them, so that
    // files put inside it do not land on them.
    return clusters[0];
  }

  build(): Buffer {
    const bps = this.bytesPerSector;
    const img = Buffer.alloc(this.volumeLength * bps);
    const boot = this.bootRegion();
    boot.copy(img, 0);
    boot.copy(img, 12 * bps);
    for (let i = 0; i < this.fats; i++) {
      const at = (this.fatOffset + i * this.fatLength) * bps;
      this.fat[i].forEach((v, c) => img.writeUInt32LE(v, at + c * 4));
    }
    for (const c of this.bitmapClusters) Buffer.from(this.bitmap).copy(img, this.offset(c));
    for (const [c, bytes] of this.data) bytes.copy(img, this.offset(c));
    const rootVolumeEntries: Buffer[] = [];
    if (this.o.label !== undefined) {
      const e = Buffer.alloc(32);
      e[0] = 0x83;
      e[1] = this.o.label.length;
      e.write(this.o.label, 2, 'utf16le');
      rootVolumeEntries.push(e);
    }
    this.bitmapClusters.forEach((c, i) => {
      const e = Buffer.alloc(32);
      e[0] = 0x81;
      e[1] = i;
      e.writeUInt32LE(c, 20);
      e.writeBigUInt64LE(BigInt(this.bitmap.length), 24);
      rootVolumeEntries.push(e);
    });
    const u = Buffer.alloc(32);
    u[0] = 0x82;
    u.writeUInt32LE(this.upcaseChecksum, 4);
    u.writeUInt32LE(this.upcaseCluster, 20);
    u.writeBigUInt64LE(BigInt(this.upcase.length), 24);
    rootVolumeEntries.push(u);
    this.rootDir.entries.unshift(...rootVolumeEntries);
    for (const d of this.dirs.values()) {
      const bytes = Buffer.concat(d.entries);
      if (bytes.length > d.clusters.length * this.clusterSize) throw new Error('directory overflows its clusters');
      d.clusters.forEach((c, i) => bytes.subarray(i * this.clusterSize, (i + 1) * this.clusterSize).copy(img, this.offset(c)));
    }
    this.rootDir.entries.splice(0, rootVolumeEntries.length);
    return img;
  }

  offset(c: number): number {
    return this.heapOffset * this.bytesPerSector + (c - 2) * this.clusterSize;
  }

  private bootRegion(): Buffer {
    const bps = this.bytesPerSector;
    const r = Buffer.alloc(12 * bps);
    r.set([0xeb, 0x76, 0x90], 0);
    r.write('EXFAT   ', 3, 'latin1');
    r.writeBigUInt64LE(0n, 64);
    r.writeBigUInt64LE(BigInt(this.volumeLength), 72);
    r.writeUInt32LE(this.fatOffset, 80);
    r.writeUInt32LE(this.fatLength, 84);
    r.writeUInt32LE(this.heapOffset, 88);
    r.writeUInt32LE(this.clusterCount, 92);
    r.writeUInt32LE(this.root, 96);
    r.writeUInt32LE(this.o.serial ?? 0x1234abcd, 100);
    r.writeUInt16LE(0x0100, 104);
    r.writeUInt16LE(this.activeFat, 106);
    r[108] = 9;
    r[109] = Math.log2(this.clusterSize / 512);
    r[110] = this.fats;
    r[111] = 0x80;
    r[112] = 0xff;
    r.writeUInt16LE(0xaa55, 510);
    for (let s = 1; s <= 8; s++) r.writeUInt32LE(0xaa550000, s * bps + bps - 4);
    const sum = checksum32(r.subarray(0, 11 * bps), (i) => i === 106 || i === 107 || i === 112);
    for (let i = 0; i < bps; i += 4) r.writeUInt32LE(sum, 11 * bps + i);
    return r;
  }
}
