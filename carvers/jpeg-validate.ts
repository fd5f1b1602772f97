import type { Reader } from '../src/reader.js';
import { BufferReader } from '../src/reader.js';
import { ByteSource } from './bytes.js';
import { entryNumbers, findEntry, parseTiffHeader, readIfd } from './ifd.js';
import { JPEG_SCAN_CHUNK, JPEG_SCAN_TAIL, MAX_JPEG_MARKERS, MAX_JPEG_SIZE, MAX_MPF_IMAGES } from './limits.js';

/**
 * JPEG entropy validator: says where a JPEG stops being valid. It parses the marker
 * segments (DQT, DHT, SOF0/1/2, DRI, SOS, APPn ...) and decodes the Huffman-coded data
 * far enough to know that every code exists in its table, no block has more than 64
 * coefficients, restart markers come in sequence exactly when DRI says they are due, no
 * other marker interrupts a scan, and each scan has exactly the MCUs the frame size and
 * sampling factors call for, followed by the next marker within a few bytes of padding.
 * No IDCT, no pixels. Baseline and extended sequential (SOF0/SOF1) and progressive (SOF2)
 * Huffman files are decoded in full; other processes (lossless, arithmetic coding,
 * hierarchical) get a marker-structure check only (`structureOnly`).
 *
 * It is what fragment reassembly needs: where a file breaks, and whether a candidate
 * reassembly is whole. A baseline validation can be paused at an MCU boundary before a
 * given byte (`runUntil`) and its state resumed on another reader whose bytes agree up
 * to there (`snapshot` / `restore`), so trying many continuations does not decode the
 * first fragment again each time.
 */

export interface JpegValidation {
  ok: boolean;
  /**
   * Bytes from the start that decode as valid: the end of the EOI when ok; otherwise where
   * the MCU (or marker) in which the decoder failed begins.
   */
  validUpTo: number;
  /** Where the decoder noticed the damage (>= validUpTo): the damage began at or before this byte. */
  failedAt?: number;
  /**
   * The last point known good by a restart marker in sequence at its due place (or the
   * start of the scan): with restart intervals, the damage is after this byte.
   */
  syncedTo?: number;
  reason?: string;
  /** MCUs decoded, over all scans. */
  mcus: number;
  /** MCUs the frame calls for, over the scans seen. */
  expectedMcus: number;
  progressive?: boolean;
  /** Entropy-coded data not decoded (lossless, arithmetic, hierarchical): only the markers were checked. */
  structureOnly?: boolean;
  /** APP2 MPF index, when the image has one (offsets are relative to `base`, absolute on the reader). */
  mpf?: { base: number; images: { offset: number; size: number; type: number }[] };
  width?: number;
  height?: number;
}

export interface JpegValidateOptions {
  /** Bytes from the start the image may span (end of pool, a known size). */
  maxLength?: number;
  /**
   * Size of the first read; each further read doubles it up to JPEG_SCAN_CHUNK. Small
   * when many candidates are tried that mostly fail within a few hundred bytes.
   */
  chunk?: number;
}

// ---- Huffman tables ----------------------------------------------------------------------

const LOOKAHEAD = 9;
/** How far before a pause point MCU boundaries are kept as resume points. */
const PAUSE_WINDOW = 8 * 1024;

interface HuffTable {
  /** For each LOOKAHEAD-bit prefix: (length << 8) | symbol when a code of <= LOOKAHEAD bits matches, else 0. */
  lookup: Int32Array;
  /** Largest code of each length (index 1..16), -1 when there is none. */
  maxcode: Int32Array;
  /** Index into `values` of a code of each length, minus that length's first code. */
  valoffset: Int32Array;
  values: Uint8Array;
}

function buildTable(counts: Uint8Array, values: Uint8Array): HuffTable | string {
  const maxcode = new Int32Array(18).fill(-1);
  const valoffset = new Int32Array(18);
  const lookup = new Int32Array(1 << LOOKAHEAD);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1];
    if (n) {
      valoffset[len] = k - code;
      for (let i = 0; i < n; i++, k++, code++) {
        if (len <= LOOKAHEAD) {
          const shift = LOOKAHEAD - len;
          const base = code << shift;
          const entry = (len << 8) | values[k];
          for (let j = 0; j < 1 << shift; j++) lookup[base + j] = entry;
        }
      }
      maxcode[len] = code - 1;
      // A code of all ones is reserved (T.81 C); more codes than fit are a corrupt table.
      if (code > (1 << len) - (len === 16 ? 1 : 0)) return `Huffman table has more codes than fit in ${len} bits`;
    }
    code <<= 1;
  }
  return { lookup, maxcode, valoffset, values };
}

/** A code longer than LOOKAHEAD bits: (length << 8) | symbol, or -1 when the table has none. */
function longCode(t: HuffTable, peek: number): number {
  for (let len = LOOKAHEAD + 1; len <= 16; len++) {
    const code = peek >>> (16 - len);
    if (code <= t.maxcode[len]) return (len << 8) | t.values[code + t.valoffset[len]];
  }
  return -1;
}

// ---- frame and scan ----------------------------------------------------------------------

interface Component {
  id: number;
  h: number;
  v: number;
  /** Blocks per line and lines of blocks the component really has (non-interleaved scans). */
  bw: number;
  bh: number;
  /** Blocks per line in the MCU-padded grid (interleaved scans), which indexes the coefficient masks. */
  pw: number;
  /** Index of this component in the frame. */
  index: number;
  /** Quantisation table id. */
  tq: number;
}

interface Frame {
  sof: number;
  precision: number;
  width: number;
  /** 0 when a DNL marker gives the height after the first scan. */
  height: number;
  components: Component[];
  mcusX: number;
  mcusY: number;
  progressive: boolean;
}

interface ScanComp {
  comp: Component;
  dc: HuffTable | null;
  ac: HuffTable | null;
  /**
   * Per zig-zag position, the most bits a coefficient can have: a DCT coefficient of 8-bit
   * samples is at most 1024 in magnitude, so after quantisation by q it is at most 1024 / q
   * (twice that allowed, for encoders that round differently).
   */
  maxBits: Uint8Array;
  /** The largest quantised DC value |DC| the samples allow. */
  dcLimit: number;
}

/** Coefficient bounds from a quantisation table (values in zig-zag order). */
function bounds(q: Uint16Array, precision: number, maxAc: number): { maxBits: Uint8Array; dcLimit: number } {
  const amplitude = precision === 12 ? 16 * 1024 : 1024;
  const maxBits = new Uint8Array(64);
  for (let k = 0; k < 64; k++) {
    const qk = Math.max(1, q[k]);
    maxBits[k] = Math.min(maxAc, Math.floor(Math.log2((2 * amplitude) / qk)) + 1);
  }
  return { maxBits, dcLimit: Math.floor(amplitude / Math.max(1, q[0])) + 1 };
}

interface Scan {
  comps: ScanComp[];
  ss: number;
  se: number;
  ah: number;
  al: number;
  /** MCUs in this scan (blocks, for a non-interleaved one); 0 when the height is unknown (DNL). */
  total: number;
  interleaved: boolean;
  /** MCUs per row: the frame's MCU columns (interleaved), or the only component's blocks per line. */
  blocksPerLine: number;
}

/** The state a paused validation resumes from. */
export interface JpegSnapshot {
  readonly pos: number;
  readonly state: Readonly<Record<string, unknown>>;
}

type Outcome = { done: true; result: JpegValidation } | { done: false };

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const DQT = 0xdb;
const DNL = 0xdc;
const DRI = 0xdd;
const DHT = 0xc4;
const APP1 = 0xe1;
const APP2 = 0xe2;

function hex(m: number): string {
  return 'FF' + m.toString(16).toUpperCase().padStart(2, '0');
}

/**
 * One image from its SOI to its EOI on `reader`, starting at absolute `start`.
 * `run()` validates to the end; `runUntil(at)` pauses at the last MCU boundary whose
 * bytes all lie before `at` (sequential scans) and returns a snapshot that `restore` resumes
 * on another reader; `runScored(from, n)` decodes n more MCUs past `from` and says how well
 * their DC values continue the rows above (fragment reassembly ranks candidates by it).
 */
export class JpegValidator {
  private reader: Reader;
  readonly start: number;
  private limit: number;

  // chunk buffer
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  private bufEnd = 0;
  private chunk = JPEG_SCAN_CHUNK;

  // bit reader: `n` bits in the low end of `acc`; the last `virt` of them are zeros added after a marker
  private acc = 0;
  private n = 0;
  private virt = 0;
  /** Next raw byte to fetch. */
  private p = 0;
  /** Absolute offset of the marker (or of the end of data) that stopped the bit reader, or -1. */
  private markerAt = -1;

  // header state
  private phase: 'soi' | 'markers' | 'scan' | 'structure' | 'done' = 'soi';
  private markers = 0;
  private dcTables: (HuffTable | null)[] = [null, null, null, null];
  private acTables: (HuffTable | null)[] = [null, null, null, null];
  private qTables: (Uint16Array | null)[] = [null, null, null, null];
  private frame: Frame | null = null;
  private restartInterval = 0;
  private sawScan = false;
  private mpf: JpegValidation['mpf'];
  private sawExif = false;
  /** Components covered by some scan (sequential), or by a DC scan (progressive). */
  private covered = 0;

  // scan state
  private scan: Scan | null = null;
  private mcu = 0;
  /** The MCU before which the last restart marker was read (-1: none in this scan). */
  private restartedAt = -1;
  private rst = 0;
  private eobrun = 0;
  private mcuStart = 0;
  private syncedTo = 0;
  private mcusDone = 0;
  private mcusExpected = 0;
  /** Per-block masks of the coefficients already nonzero (progressive refinement needs them). */
  private masks: Uint32Array[] = [];
  /** DC predictors of the scan's components (reset at each restart). */
  private dcPred = new Int32Array(4);
  /**
   * Continuity of the DC "thumbnail" (sequential scans): the luma DC of each MCU column in
   * the MCU row above, and how far the MCUs decoded since `scoreFrom` jump from it.
   */
  private rowDc: Int32Array | null = null;
  private lumaIndex = 0;
  private scoreFrom = Infinity;
  private jumpSum = 0;
  private jumpCount = 0;
  /** Pause once this many MCUs after `scoreFrom` were scored. */
  private scoreTarget = Infinity;
  /** The MCU row being scored: its jumps so far and where it starts. */
  private rowJumpSum = 0;
  private rowJumpCount = 0;
  private rowStart = 0;
  /** With `trackJumps`: each MCU row scored whole, where it starts (from the image start) and its mean jump. */
  private history: { start: number; jump: number }[] | null = null;

  constructor(reader: Reader, start: number, options: JpegValidateOptions = {}) {
    this.reader = reader;
    this.start = start;
    this.limit = start + Math.min(options.maxLength ?? MAX_JPEG_SIZE, MAX_JPEG_SIZE, Math.max(0, reader.size - start));
    this.p = start;
    this.chunk = options.chunk ?? JPEG_SCAN_CHUNK;
  }

  /** Bytes fetched from the reader so far (the work a validation did). */
  bytesRead = 0;

  private readChunk(at: number): Buffer {
    const b = at < this.limit ? this.reader.read(at, Math.min(this.chunk, this.limit - at)) : Buffer.alloc(0);
    this.bytesRead += b.length;
    if (this.chunk < JPEG_SCAN_CHUNK) this.chunk = Math.min(JPEG_SCAN_CHUNK, this.chunk * 2);
    return b;
  }

  /** Validate to the end of the image. */
  run(): JpegValidation {
    for (;;) {
      const out = this.step();
      if (out.done) return out.result;
      this.paused = false;
    }
  }

  /**
   * Validate until the bytes read would reach `at` (absolute). Returns the state at the last
   * MCU boundary of a sequential scan before it (`snapshot`; null when there is none close
   * enough, or the image is progressive: start again from the beginning), or the result when
   * the image ends or fails before `at`. Call with increasing `at`.
   */
  runUntil(at: number): { snapshot: JpegSnapshot | null } | { result: JpegValidation } {
    this.pauseAt = at;
    this.saved = null;
    try {
      for (;;) {
        const out = this.step();
        if (out.done) return { result: out.result };
        if (this.paused) {
          this.paused = false;
          const snap = this.saved;
          if (snap) this.restore(snap, this.reader);
          return { snapshot: snap };
        }
      }
    } finally {
      this.pauseAt = Infinity;
    }
  }

  /**
   * Continue until `mcus` MCUs that start at or after byte `from` (absolute) have been
   * compared with the MCU row above (sequential scans), and return how far their luma DC
   * jumps on average (`score`: a continuation from the wrong place scores high), or the
   * result when the image ends or fails first. With `fresh` false, the MCUs scored by the
   * previous call count towards `mcus` and the mean.
   */
  runScored(from: number, mcus: number, fresh = true): { score: number } | { result: JpegValidation } {
    this.scoreFrom = from;
    if (fresh) {
      this.jumpSum = 0;
      this.jumpCount = 0;
    }
    this.scoreTarget = mcus;
    try {
      for (;;) {
        const out = this.step();
        if (out.done) return { result: out.result };
        if (this.paused) {
          this.paused = false;
          return { score: this.jumpSum / Math.max(1, this.jumpCount) };
        }
      }
    } finally {
      this.scoreTarget = Infinity;
      this.scoreFrom = Infinity;
    }
  }

  /** Score every MCU from now on, without pausing, and keep each MCU row's mean jump (`rows`). */
  trackJumps(): void {
    this.scoreFrom = -Infinity;
    this.jumpSum = 0;
    this.jumpCount = 0;
    this.rowJumpSum = 0;
    this.rowJumpCount = 0;
    this.history = [];
  }

  /** The MCU rows scored since `trackJumps`: where each starts (bytes from the image start) and its mean jump. */
  get rows(): readonly { start: number; jump: number }[] {
    return this.history ?? [];
  }

  /** MCUs per row of the current sequential scan (0 outside one). */
  get mcusPerRow(): number {
    return this.rowDc?.length ?? 0;
  }

  private pauseAt = Infinity;
  private paused = false;
  private saved: JpegSnapshot | null = null;

  /** The full state, to resume this validation on a reader whose bytes agree up to `pos`. */
  snapshot(): JpegSnapshot {
    const state: Record<string, unknown> = {
      acc: this.acc, n: this.n, virt: this.virt, p: this.p, markerAt: this.markerAt,
      phase: this.phase, markers: this.markers, dcTables: [...this.dcTables], acTables: [...this.acTables],
      frame: this.frame, restartInterval: this.restartInterval, sawScan: this.sawScan, mpf: this.mpf,
      covered: this.covered, scan: this.scan, restartedAt: this.restartedAt, qTables: [...this.qTables], dcPred: this.dcPred.slice(), mcu: this.mcu, rst: this.rst, eobrun: this.eobrun,
      mcuStart: this.mcuStart, syncedTo: this.syncedTo, mcusDone: this.mcusDone, mcusExpected: this.mcusExpected,
      masks: this.masks.map((m) => m.slice()),
      rowDc: this.rowDc?.slice() ?? null, lumaIndex: this.lumaIndex,
    };
    return { pos: this.p, state };
  }

  /** Continue from `snap` reading `reader` (same coordinates; bytes before `snap.pos` must agree). */
  restore(snap: JpegSnapshot, reader: Reader, options: JpegValidateOptions = {}): void {
    Object.assign(this, snap.state);
    this.masks = (snap.state.masks as Uint32Array[]).map((m) => m.slice());
    this.dcTables = [...(snap.state.dcTables as (HuffTable | null)[])];
    this.qTables = [...(snap.state.qTables as (Uint16Array | null)[])];
    this.dcPred = (snap.state.dcPred as Int32Array).slice();
    this.rowDc = (snap.state.rowDc as Int32Array | null)?.slice() ?? null;
    this.acTables = [...(snap.state.acTables as (HuffTable | null)[])];
    this.setReader(reader, options);
  }

  /** Read from another reader from here on (same coordinates). */
  setReader(reader: Reader, options: JpegValidateOptions = {}): void {
    this.reader = reader;
    this.limit = this.start + Math.min(options.maxLength ?? MAX_JPEG_SIZE, MAX_JPEG_SIZE, Math.max(0, reader.size - this.start));
    this.chunk = options.chunk ?? JPEG_SCAN_CHUNK;
    this.buf = Buffer.alloc(0);
    this.bufStart = 0;
    this.bufEnd = 0;
  }

  // ---- results ---------------------------------------------------------------------------

  private result(extra: Partial<JpegValidation> & { ok: boolean; validUpTo: number }): JpegValidation {
    const f = this.frame;
    const r: JpegValidation = {
      mcus: this.mcusDone,
      expectedMcus: this.mcusExpected,
      ...extra,
    };
    r.validUpTo = Math.max(0, r.validUpTo - this.start);
    if (r.failedAt !== undefined) r.failedAt = Math.max(r.validUpTo, r.failedAt - this.start);
    if (!r.ok && this.sawScan) r.syncedTo = Math.min(r.validUpTo, Math.max(0, this.syncedTo - this.start));
    if (f?.progressive) r.progressive = true;
    if (f) {
      r.width = f.width;
      r.height = f.height;
    }
    if (this.mpf) r.mpf = this.mpf;
    this.phase = 'done';
    return r;
  }

  private fail(reason: string, validUpTo: number, failedAt = validUpTo): Outcome {
    return { done: true, result: this.result({ ok: false, reason, validUpTo, failedAt }) };
  }

  // ---- byte access -----------------------------------------------------------------------

  /** Make `at` (absolute) available in `buf`; false past the end of data. */
  private load(at: number): boolean {
    if (at >= this.limit) return false;
    if (at >= this.bufStart && at < this.bufEnd) return true;
    this.buf = this.readChunk(at);
    this.bufStart = at;
    this.bufEnd = at + this.buf.length;
    return this.buf.length > 0;
  }

  private byteAt(at: number): number {
    if (at >= this.bufStart && at < this.bufEnd) return this.buf[at - this.bufStart];
    return this.load(at) ? this.buf[at - this.bufStart] : -1;
  }

  private bytes(at: number, length: number): Buffer {
    if (at + length > this.limit) length = Math.max(0, this.limit - at);
    if (at >= this.bufStart && at + length <= this.bufEnd) return this.buf.subarray(at - this.bufStart, at - this.bufStart + length);
    return this.reader.read(at, length);
  }

  // ---- the state machine -----------------------------------------------------------------

  private step(): Outcome {
    switch (this.phase) {
      case 'soi': {
        if (this.byteAt(this.start) !== 0xff || this.byteAt(this.start + 1) !== SOI) return this.fail('no SOI', this.start);
        this.p = this.start + 2;
        this.phase = 'markers';
        return { done: false };
      }
      case 'markers':
        if (this.p > this.pauseAt) {
          this.paused = true;
          return { done: false };
        }
        return this.marker();
      case 'scan':
        return this.decodeScan();
      case 'structure':
        return this.structureScan();
      default:
        return this.fail('validation already finished', this.p);
    }
  }

  /** One marker segment outside the entropy-coded data. */
  private marker(): Outcome {
    if (++this.markers > MAX_JPEG_MARKERS) return this.fail(`more than ${MAX_JPEG_MARKERS} marker segments`, this.p);
    let pos = this.p;
    if (this.byteAt(pos) !== 0xff) {
      return this.byteAt(pos) < 0 ? this.fail('data ends before the EOI', pos) : this.fail(`expected a marker at byte ${pos - this.start}`, pos);
    }
    let m = this.byteAt(pos + 1);
    while (m === 0xff) {
      pos++; // fill bytes before a marker
      m = this.byteAt(pos + 1);
    }
    if (m < 0) return this.fail('data ends before the EOI', pos);
    const at = pos;
    if (m === EOI) {
      if (!this.sawScan) return this.fail('EOI before any scan', at);
      const f = this.frame!;
      const all = (1 << f.components.length) - 1;
      if ((this.covered & all) !== all) return this.fail(`EOI before every component was coded (${f.progressive ? 'DC scans' : 'scans'} missing)`, at);
      return { done: true, result: this.result({ ok: true, validUpTo: at + 2 }) };
    }
    if (m === SOI) return this.fail(`second SOI at byte ${at - this.start}`, at);
    if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      this.p = at + 2; // a stray RSTn or TEM outside a scan carries nothing
      return { done: false };
    }
    if (m < 0xc0) return this.fail(`invalid marker ${hex(m)} at byte ${at - this.start}`, at);
    const lenBytes = this.bytes(at + 2, 2);
    if (lenBytes.length < 2) return this.fail('data ends inside a marker', at);
    const len = lenBytes.readUInt16BE(0);
    if (len < 2) return this.fail(`impossible segment length ${len} at byte ${at - this.start}`, at);
    const segEnd = at + 2 + len;
    if (segEnd > this.limit) return this.fail(`segment ${hex(m)} at byte ${at - this.start} runs past the end of the data`, at);
    const body = () => this.bytes(at + 4, len - 2);
    let problem: string | null = null;

    if (m === DHT) problem = this.parseDht(body());
    else if (m === DQT) problem = this.parseDqt(body());
    else if (m === DRI) {
      if (len !== 4) problem = `DRI segment of length ${len}`;
      else this.restartInterval = body().readUInt16BE(0);
    } else if (m === 0xc0 || m === 0xc1 || m === 0xc2) {
      if (this.frame) problem = 'second SOF';
      else problem = this.parseSof(m, body());
    } else if (m >= 0xc3 && m <= 0xcf && m !== 0xc8 && m !== 0xcc) {
      // Lossless, arithmetic-coded or hierarchical: check the markers only.
      if (this.frame) problem = 'second SOF';
      else {
        const b = body();
        this.frame = {
          sof: m,
          precision: b[0] ?? 8,
          width: b.length >= 5 ? b.readUInt16BE(3) : 0,
          height: b.length >= 3 ? b.readUInt16BE(1) : 0,
          components: [],
          mcusX: 0,
          mcusY: 0,
          progressive: m === 0xc6 || m === 0xca || m === 0xce,
        };
        this.p = segEnd;
        this.phase = 'structure';
        return { done: false };
      }
    } else if (m === SOS) {
      problem = this.parseSos(body(), segEnd);
      if (!problem) return { done: false };
    } else if (m === DNL) {
      if (!this.sawScan || len !== 4) problem = 'misplaced DNL';
    } else if (m === APP2 && !this.mpf && len >= 16) {
      this.mpf = parseMpf(this.reader, at + 4, len - 2);
    } else if (m === APP1 && !this.sawExif && len >= 16) {
      // The EXIF thumbnail is a JPEG of its own, usually most of the segment: it must decode
      // too, or a break inside the segment would go unseen.
      this.sawExif = true;
      const thumb = exifThumbnail(this.reader, at + 4, len - 2);
      if (thumb) {
        // Up to the segment's end: some cameras declare the thumbnail a few bytes short.
        const r = validateJpeg(this.reader, thumb.offset, { maxLength: segEnd - thumb.offset });
        if (!r.ok) {
          return this.fail(`EXIF thumbnail at byte ${thumb.offset - this.start}: ${r.reason}`, thumb.offset + r.validUpTo, thumb.offset + (r.failedAt ?? r.validUpTo));
        }
      }
    }
    if (problem) return this.fail(`${problem} (${hex(m)} at byte ${at - this.start})`, at);
    this.p = segEnd;
    return { done: false };
  }

  private parseDqt(b: Buffer): string | null {
    let i = 0;
    while (i < b.length) {
      const pq = b[i] >> 4;
      const tq = b[i] & 15;
      if (pq > 1 || tq > 3) return `bad quantisation table id ${b[i].toString(16)}`;
      if (i + 1 + 64 * (pq + 1) > b.length) break;
      const q = new Uint16Array(64);
      for (let k = 0; k < 64; k++) q[k] = pq ? b.readUInt16BE(i + 1 + 2 * k) : b[i + 1 + k];
      this.qTables[tq] = q;
      i += 1 + 64 * (pq + 1);
    }
    return i === b.length ? null : 'DQT length does not match its tables';
  }

  private parseDht(b: Buffer): string | null {
    let i = 0;
    while (i < b.length) {
      if (i + 17 > b.length) return 'DHT segment too short';
      const tc = b[i] >> 4;
      const th = b[i] & 15;
      if (tc > 1 || th > 3) return `bad Huffman table id ${b[i].toString(16)}`;
      const counts = b.subarray(i + 1, i + 17);
      let total = 0;
      for (const c of counts) total += c;
      if (total === 0 || total > 256) return `Huffman table with ${total} codes`;
      if (i + 17 + total > b.length) return 'DHT segment too short';
      const values = b.subarray(i + 17, i + 17 + total);
      const table = buildTable(Uint8Array.from(counts), Uint8Array.from(values));
      if (typeof table === 'string') return table;
      (tc === 0 ? this.dcTables : this.acTables)[th] = table;
      i += 17 + total;
    }
    return null;
  }

  private parseSof(m: number, b: Buffer): string | null {
    if (b.length < 6) return 'SOF segment too short';
    const precision = b[0];
    const height = b.readUInt16BE(1);
    const width = b.readUInt16BE(3);
    const nf = b[5];
    if (b.length !== 6 + 3 * nf) return 'SOF length does not match its component count';
    if (precision !== 8 && !(precision === 12 && m !== 0xc0)) return `sample precision ${precision}`;
    if (width === 0) return 'zero width';
    if (nf < 1 || nf > 4) return `${nf} components`;
    const comps: Component[] = [];
    let hmax = 1;
    let vmax = 1;
    for (let i = 0; i < nf; i++) {
      const id = b[6 + 3 * i];
      const h = b[7 + 3 * i] >> 4;
      const v = b[7 + 3 * i] & 15;
      if (h < 1 || h > 4 || v < 1 || v > 4) return `sampling factors ${h}x${v}`;
      if (b[8 + 3 * i] > 3) return 'quantisation table id above 3';
      if (comps.some((c) => c.id === id)) return `component id ${id} twice`;
      hmax = Math.max(hmax, h);
      vmax = Math.max(vmax, v);
      comps.push({ id, h, v, bw: 0, bh: 0, pw: 0, index: i, tq: b[8 + 3 * i] });
    }
    let blocksInMcu = 0;
    for (const c of comps) blocksInMcu += c.h * c.v;
    if (nf > 1 && blocksInMcu > 10) return `${blocksInMcu} blocks per MCU (at most 10)`;
    const mcusX = Math.ceil(width / (8 * hmax));
    const mcusY = Math.ceil(height / (8 * vmax));
    for (const c of comps) {
      c.bw = Math.ceil(Math.ceil((width * c.h) / hmax) / 8);
      c.bh = Math.ceil(Math.ceil((height * c.v) / vmax) / 8);
      c.pw = mcusX * c.h;
    }
    const progressive = m === 0xc2;
    this.frame = { sof: m, precision, width, height, components: comps, mcusX, mcusY, progressive };
    if (progressive) {
      if (height === 0) return 'progressive frame without a height';
      // 64 bits of "already nonzero" per block, for the refinement scans.
      this.masks = comps.map((c) => new Uint32Array(2 * c.pw * mcusY * c.v));
    }
    return null;
  }

  private parseSos(b: Buffer, segEnd: number): string | null {
    const f = this.frame;
    if (!f) return 'SOS before any SOF';
    const ns = b[0] ?? 0;
    if (ns < 1 || ns > 4 || b.length !== 4 + 2 * ns) return 'malformed SOS header';
    const comps: ScanComp[] = [];
    for (let i = 0; i < ns; i++) {
      const id = b[1 + 2 * i];
      const comp = f.components.find((c) => c.id === id);
      if (!comp) return `scan names component ${id}, which the frame does not have`;
      if (comps.some((c) => c.comp === comp)) return `scan names component ${id} twice`;
      const q = this.qTables[comp.tq];
      if (!q) return `quantisation table ${comp.tq} is not defined`;
      const lim = bounds(q, f.precision, f.precision === 12 ? 14 : 10);
      comps.push({ comp, dc: this.dcTables[b[2 + 2 * i] >> 4] ?? null, ac: this.acTables[b[2 + 2 * i] & 15] ?? null, ...lim });
    }
    const ss = b[1 + 2 * ns];
    const se = b[2 + 2 * ns];
    const ah = b[3 + 2 * ns] >> 4;
    const al = b[3 + 2 * ns] & 15;
    if (f.progressive) {
      if (ss > se || se > 63 || ah > 13 || al > 13) return `bad spectral selection ${ss}-${se} / ${ah}.${al}`;
      if (ss === 0 && se !== 0) return 'progressive scan mixes DC and AC';
      if (ss > 0 && ns !== 1) return 'progressive AC scan with several components';
      for (const c of comps) {
        if (ss === 0 && ah === 0 && !c.dc) return 'scan uses an undefined DC Huffman table';
        if (ss > 0 && !c.ac) return 'scan uses an undefined AC Huffman table';
      }
    } else {
      if (ss !== 0 || se !== 63 || ah !== 0 || al !== 0) return `sequential scan with spectral selection ${ss}-${se} / ${ah}.${al}`;
      for (const c of comps) if (!c.dc || !c.ac) return 'scan uses an undefined Huffman table';
    }
    let blocks = 0;
    for (const c of comps) blocks += c.comp.h * c.comp.v;
    if (blocks > 10) return `${blocks} blocks per MCU (at most 10)`;
    const interleaved = ns > 1;
    const only = comps[0].comp;
    const total = f.height === 0 ? 0 : interleaved ? f.mcusX * f.mcusY : only.bw * only.bh;
    this.scan = { comps, ss, se, ah, al, total, interleaved, blocksPerLine: interleaved ? f.mcusX : only.bw };
    for (const c of comps) if (!f.progressive || ss === 0) this.covered |= 1 << c.comp.index;
    this.sawScan = true;
    this.mcu = 0;
    this.restartedAt = -1;
    this.rst = 0;
    this.eobrun = 0;
    this.dcPred.fill(0);
    const luma = comps.findIndex((c) => c.comp.index === 0);
    this.lumaIndex = luma >= 0 ? luma : 0;
    this.rowDc = f.progressive ? null : new Int32Array(this.scan.blocksPerLine);
    this.mcusExpected += total;
    this.p = segEnd;
    this.syncedTo = segEnd;
    this.acc = 0;
    this.n = 0;
    this.virt = 0;
    this.markerAt = -1;
    this.phase = 'scan';
    return null;
  }

  // ---- bit reader --------------------------------------------------------------------------

  /** Top up to more than 24 bits; zeros after a marker or the end of data (counted in `virt`). */
  private fill(): void {
    let acc = this.acc;
    let n = this.n;
    let p = this.p;
    while (n <= 24) {
      if (this.markerAt >= 0) {
        acc <<= 8;
        n += 8;
        this.virt += 8;
        continue;
      }
      let i = p - this.bufStart;
      if (i < 0 || i + 1 >= this.buf.length) {
        // Keep a byte and the one after it in the same chunk.
        this.buf = this.readChunk(p);
        this.bufStart = p;
        this.bufEnd = p + this.buf.length;
        i = 0;
        if (this.buf.length < 2) {
          if (this.buf.length === 1 && this.buf[0] !== 0xff) {
            acc = (acc << 8) | this.buf[0];
            n += 8;
            p++;
          } else this.markerAt = p; // the data ends
          continue;
        }
      }
      const b = this.buf[i];
      if (b !== 0xff) {
        acc = (acc << 8) | b;
        n += 8;
        p++;
        continue;
      }
      const next = this.buf[i + 1];
      if (next === 0x00) {
        acc = (acc << 8) | 0xff; // stuffed FF
        n += 8;
        p += 2;
      } else if (next === 0xff) p++; // fill byte before a marker
      else this.markerAt = p;
    }
    this.acc = acc;
    this.n = n;
    this.p = p;
  }

  /** Absolute byte holding the next unread bit (for positions in messages). */
  private bitPos(): number {
    const real = this.n - this.virt;
    const end = this.markerAt >= 0 ? this.markerAt : this.p;
    return Math.max(this.start, end - ((real + 7) >> 3));
  }

  /** Decode one Huffman symbol; -1 for a code the table does not have. */
  private decode(t: HuffTable): number {
    if (this.n < 16) this.fill();
    const peek = (this.acc >>> (this.n - 16)) & 0xffff;
    const e = t.lookup[peek >>> (16 - LOOKAHEAD)];
    if (e !== 0) {
      this.n -= e >>> 8;
      return e & 0xff;
    }
    for (let len = LOOKAHEAD + 1; len <= 16; len++) {
      const code = peek >>> (16 - len);
      if (code <= t.maxcode[len]) {
        this.n -= len;
        return t.values[code + t.valoffset[len]];
      }
    }
    return -1;
  }

  private skip(bits: number): void {
    if (this.n < bits) this.fill();
    this.n -= bits;
  }

  private getBits(bits: number): number {
    if (bits === 0) return 0;
    if (this.n < bits) this.fill();
    this.n -= bits;
    return (this.acc >>> this.n) & ((1 << bits) - 1);
  }

  // ---- entropy-coded data ------------------------------------------------------------------

  private decodeScan(): Outcome {
    const scan = this.scan!;
    const f = this.frame!;
    const ri = this.restartInterval;
    const sequential = !f.progressive;
    const maxDc = f.precision === 12 ? 15 : 11;
    const maxAc = f.precision === 12 ? 14 : 10;
    const total = scan.total;
    const comps = scan.comps;
    const pausing = this.pauseAt !== Infinity;
    // The blocks of one MCU: their tables, component and place in the MCU.
    const mcuDc: HuffTable[] = [];
    const mcuAc: HuffTable[] = [];
    const mcuComp: number[] = [];
    const mcuBits: Uint8Array[] = [];
    const mcuLimit: number[] = [];
    const mcuDx: number[] = [];
    const mcuDy: number[] = [];
    for (let ci = 0; ci < comps.length; ci++) {
      const c = comps[ci];
      const bh = scan.interleaved ? c.comp.h : 1;
      const bv = scan.interleaved ? c.comp.v : 1;
      for (let y = 0; y < bv; y++)
        for (let x = 0; x < bh; x++) {
          mcuDc.push(c.dc!);
          mcuAc.push(c.ac!);
          mcuBits.push(c.maxBits);
          mcuLimit.push(c.dcLimit);
          mcuComp.push(ci);
          mcuDx.push(x);
          mcuDy.push(y);
        }
    }
    const nb = mcuDc.length;

    for (;;) {
      if (total > 0 && this.mcu >= total) return this.endOfScan();
      if (total === 0 && this.markerAt >= 0 && this.n - this.virt < 8 && this.paddingOk()) return this.endOfScan(); // DNL
      if (ri > 0 && this.mcu > 0 && this.mcu % ri === 0 && this.restartedAt !== this.mcu) {
        const bad = this.restart();
        if (bad) return bad;
        this.restartedAt = this.mcu; // a resume from a snapshot taken here must not expect it again
      }
      if (pausing) {
        if (this.p > this.pauseAt) {
          this.paused = true;
          return { done: false };
        }
        // Keep the last MCU boundary before the pause point that a resume can start from.
        if (sequential && this.p > this.pauseAt - PAUSE_WINDOW && this.markerAt < 0) this.saved = this.snapshot();
      }
      this.mcuStart = this.bitPos();
      if (sequential) {
        let err = this.mcuSequential(mcuDc, mcuAc, mcuComp, mcuBits, mcuLimit, maxDc);
        if (this.n < this.virt) {
          const m = this.byteAt(this.markerAt + 1);
          err = m < 0 ? 'data ends inside the entropy-coded data' : `marker ${hex(m)} at byte ${this.markerAt - this.start} inside an MCU`;
        }
        if (err !== null) return this.fail(`${err} (MCU ${this.mcu} of ${total || '?'})`, this.mcuStart, Math.max(this.mcuStart, this.bitPos() + 1));
        // The luma DC against the MCU above it: a wrong continuation shows as a jump.
        const row = this.rowDc!;
        const x = this.mcu % row.length;
        const dcv = this.dcPred[this.lumaIndex];
        if (this.mcuStart >= this.scoreFrom && this.mcu >= row.length) {
          const d = Math.abs(dcv - row[x]);
          this.jumpSum += d;
          this.rowJumpSum += d;
          this.rowJumpCount++;
          if (x === 0) this.rowStart = this.mcuStart;
          if (x === row.length - 1) {
            const mean = this.rowJumpSum / this.rowJumpCount;
            this.rowJumpSum = 0;
            this.rowJumpCount = 0;
            if (this.history) {
              const h = this.history;
              const at = this.rowStart - this.start;
              while (h.length > 0 && h[h.length - 1].start >= at) h.pop(); // decoded again after a rewind
              h.push({ start: at, jump: mean });
            }
          }
          if (++this.jumpCount >= this.scoreTarget) this.paused = true;
        }
        row[x] = dcv;
        this.mcu++;
        this.mcusDone++;
        if (this.paused) return { done: false };
        continue;
      }
      for (let b = 0; b < nb; b++) {
        let err: string | null;
        {
          const ci = mcuComp[b];
          const comp = comps[ci].comp;
          let bx: number;
          let by: number;
          if (scan.interleaved) {
            bx = (this.mcu % f.mcusX) * comp.h + mcuDx[b];
            by = Math.floor(this.mcu / f.mcusX) * comp.v + mcuDy[b];
          } else {
            bx = this.mcu % comp.bw;
            by = Math.floor(this.mcu / comp.bw);
          }
          err = this.blockProgressive(scan, comps[ci], ci, comp.index, by * comp.pw + bx, maxDc);
        }
        if (this.n < this.virt) {
          const m = this.byteAt(this.markerAt + 1);
          err = m < 0 ? 'data ends inside the entropy-coded data' : `marker ${hex(m)} at byte ${this.markerAt - this.start} inside an MCU`;
        }
        if (err !== null) return this.fail(`${err} (MCU ${this.mcu} of ${total || '?'})`, this.mcuStart, Math.max(this.mcuStart, this.bitPos() + 1));
      }
      this.mcu++;
      this.mcusDone++;
    }
  }

  /** The bits left before a marker are padding: fewer than 8, all ones. */
  private paddingOk(): boolean {
    const real = this.n - this.virt;
    if (real < 0 || real >= 8) return false;
    const bits = (this.acc >>> this.virt) & ((1 << real) - 1);
    return bits === (1 << real) - 1;
  }

  private restart(): Outcome | null {
    if (this.markerAt < 0) this.fill();
    const at = this.bitPos();
    if (this.markerAt < 0 || this.n - this.virt >= 8) {
      return this.fail(`no RST${this.rst} after ${this.mcu} MCUs (restart interval ${this.restartInterval})`, at, at + 1);
    }
    const m = this.byteAt(this.markerAt + 1);
    if (m !== 0xd0 + this.rst) {
      const what = m >= 0xd0 && m <= 0xd7 ? `RST${m - 0xd0} where RST${this.rst} is due` : m < 0 ? `data ends where RST${this.rst} is due` : `marker ${hex(m)} where RST${this.rst} is due`;
      return this.fail(`${what} after ${this.mcu} MCUs`, this.markerAt, this.markerAt + 2);
    }
    if (!this.paddingOk()) return this.fail(`bits before RST${this.rst} are not 1-padding`, this.markerAt, this.markerAt + 2);
    this.p = this.markerAt + 2;
    this.markerAt = -1;
    this.acc = 0;
    this.n = 0;
    this.virt = 0;
    this.rst = (this.rst + 1) & 7;
    this.eobrun = 0;
    this.dcPred.fill(0);
    this.syncedTo = this.p;
    return null;
  }

  /** After the last MCU: only padding, then the next marker (EOI, or the next scan's tables). */
  private endOfScan(): Outcome {
    if (this.markerAt < 0) this.fill();
    const scanEnd = this.bitPos();
    let at: number;
    if (this.markerAt >= 0 && this.n - this.virt < 8) at = this.markerAt;
    else {
      // Some encoders leave a few bytes after the last MCU: look for the marker nearby.
      at = -1;
      for (let q = scanEnd; q < scanEnd + JPEG_SCAN_TAIL; q++) {
        const b = this.byteAt(q);
        if (b < 0) break;
        if (b === 0xff) {
          const c = this.byteAt(q + 1);
          if (c !== 0x00 && c !== 0xff) {
            at = q;
            break;
          }
        }
      }
      if (at < 0) return this.fail(`entropy-coded data continues after the last of ${this.scan!.total} MCUs`, scanEnd, scanEnd + JPEG_SCAN_TAIL);
    }
    const m = this.byteAt(at + 1);
    if (m >= 0xd0 && m <= 0xd7) return this.fail(`RST${m - 0xd0} after the last MCU`, at, at + 2);
    this.p = at;
    this.markerAt = -1;
    this.acc = 0;
    this.n = 0;
    this.virt = 0;
    this.scan = null;
    this.phase = 'markers';
    return { done: false };
  }

  /**
   * One MCU of a sequential scan: DC category and AC run/size codes of every block, with
   * their extra bits skipped. The bit buffer lives in locals and is topped up inline from
   * the chunk (the slow path, `fill`, handles FF bytes, markers and chunk ends).
   */
  private mcuSequential(dcs: HuffTable[], acs: HuffTable[], compOf: number[], bitsOf: Uint8Array[], dcLimitOf: number[], maxDc: number): string | null {
    let acc = this.acc;
    let n = this.n;
    let buf = this.buf;
    let i = this.p - this.bufStart;
    const preds = this.dcPred;
    const nb = dcs.length;
    for (let blk = 0; blk < nb; blk++) {
      // ---- DC: category, then that many bits of difference
      if (n < 16) {
        while (n <= 24) {
          if (i >= 0 && i < buf.length && buf[i] !== 0xff) {
            acc = (acc << 8) | buf[i++];
            n += 8;
          } else {
            this.acc = acc;
            this.n = n;
            this.p = this.bufStart + i;
            this.fill();
            acc = this.acc;
            n = this.n;
            buf = this.buf;
            i = this.p - this.bufStart;
            break;
          }
        }
      }
      const dc = dcs[blk];
      let peek = (acc >>> (n - 16)) & 0xffff;
      let e = dc.lookup[peek >>> (16 - LOOKAHEAD)];
      let sym: number;
      if (e !== 0) {
        n -= e >>> 8;
        sym = e & 0xff;
      } else {
        sym = longCode(dc, peek);
        if (sym < 0) return this.keep(acc, n, i, 'invalid DC Huffman code');
        n -= sym >>> 8;
        sym &= 0xff;
      }
      if (sym > 0) {
        if (sym > maxDc) return this.keep(acc, n, i, `DC difference of ${sym} bits`);
        if (n < sym) {
          this.acc = acc;
          this.n = n;
          this.p = this.bufStart + i;
          this.fill();
          acc = this.acc;
          n = this.n;
          buf = this.buf;
          i = this.p - this.bufStart;
        }
        n -= sym;
        // The DC value itself: the predictor must stay where samples can put it.
        const v = (acc >>> n) & ((1 << sym) - 1);
        const c = compOf[blk];
        const pred = preds[c] + (v < 1 << (sym - 1) ? v - (1 << sym) + 1 : v);
        preds[c] = pred;
        const limit = dcLimitOf[blk];
        if (pred > limit || pred < -limit) return this.keep(acc, n, i, `DC value ${pred} out of range`);
      }

      // ---- AC: run/size symbols until EOB or the 63rd coefficient
      const ac = acs[blk];
      const lookup = ac.lookup;
      const bits = bitsOf[blk];
      // Coefficients coded one by one (no zero run before them), and which bit lengths they had.
      let dense = 0;
      let lengths = 0;
      for (let k = 1; k < 64; ) {
        if (n < 16) {
          while (n <= 24) {
            if (i >= 0 && i < buf.length && buf[i] !== 0xff) {
              acc = (acc << 8) | buf[i++];
              n += 8;
            } else {
              this.acc = acc;
              this.n = n;
              this.p = this.bufStart + i;
              this.fill();
              acc = this.acc;
              n = this.n;
              buf = this.buf;
              i = this.p - this.bufStart;
              break;
            }
          }
        }
        peek = (acc >>> (n - 16)) & 0xffff;
        e = lookup[peek >>> (16 - LOOKAHEAD)];
        if (e !== 0) {
          n -= e >>> 8;
          sym = e & 0xff;
        } else {
          sym = longCode(ac, peek);
          if (sym < 0) return this.keep(acc, n, i, 'invalid AC Huffman code');
          n -= sym >>> 8;
          sym &= 0xff;
        }
        const r = sym >> 4;
        const s = sym & 15;
        if (s === 0) {
          if (r !== 15) break; // EOB
          k += 16;
          if (k > 64) return this.keep(acc, n, i, 'zero run past the end of a block');
          continue;
        }
        k += r;
        if (k > 63) return this.keep(acc, n, i, 'more than 64 coefficients in a block');
        if (s > bits[k]) return this.keep(acc, n, i, `AC coefficient ${k} of ${s} bits, more than its quantiser allows`);
        if (r === 0) {
          dense++;
          lengths |= 1 << s;
        }
        k++;
        if (n < s) {
          this.acc = acc;
          this.n = n;
          this.p = this.bufStart + i;
          this.fill();
          acc = this.acc;
          n = this.n;
          buf = this.buf;
          i = this.p - this.bufStart;
        }
        n -= s;
      }
      // All 63 AC coefficients nonzero and of one bit length: what decoding a run of equal
      // bytes (zeros, mostly) gives with the usual tables, and no camera's image does.
      if (dense === 63 && (lengths & (lengths - 1)) === 0) {
        return this.keep(acc, n, i, 'a block of 63 coefficients of one size (a run of equal bytes, not image data)');
      }
    }
    this.keep(acc, n, i, null);
    return null;
  }

  /** Store the bit reader's locals back; pass `err` through. */
  private keep(acc: number, n: number, i: number, err: string | null): string | null {
    this.acc = acc;
    this.n = n;
    this.p = this.bufStart + i;
    return err;
  }

  private blockProgressive(scan: Scan, sc: ScanComp, si: number, ci: number, block: number, maxDc: number): string | null {
    const { ss, se, ah, al } = scan;
    if (ss === 0) {
      if (ah === 0) {
        const s = this.decode(sc.dc!);
        if (s < 0) return 'invalid DC Huffman code';
        if (s > maxDc) return `DC difference of ${s} bits`;
        if (s) {
          const v = this.getBits(s);
          const pred = this.dcPred[si] + (v < 1 << (s - 1) ? v - (1 << s) + 1 : v);
          this.dcPred[si] = pred;
          if (Math.abs(pred) * 2 ** al > sc.dcLimit) return `DC value ${pred * 2 ** al} out of range`;
        }
      } else this.skip(1);
      return null;
    }
    const maxBits = sc.maxBits;
    const mask = this.masks[ci];
    const at = 2 * block;
    if (at + 1 >= mask.length) return 'block outside the frame';
    const ac = sc.ac!;
    if (ah === 0) {
      if (this.eobrun > 0) {
        this.eobrun--;
        return null;
      }
      for (let k = ss; k <= se; k++) {
        const rs = this.decode(ac);
        if (rs < 0) return 'invalid AC Huffman code';
        const r = rs >> 4;
        const s = rs & 15;
        if (s) {
          k += r;
          if (k > se) return 'coefficient past the end of the spectral band';
          if (s + al > maxBits[k]) return `AC coefficient ${k} of ${s + al} bits, more than its quantiser allows`;
          this.skip(s);
          mask[at + (k >> 5)] |= 1 << (k & 31);
        } else if (r === 15) {
          k += 15;
          if (k > se) return 'zero run past the end of the spectral band';
        } else {
          this.eobrun = (1 << r) + this.getBits(r) - 1;
          break;
        }
      }
      return null;
    }
    // Refinement (T.81 G.1.2.3, as libjpeg's decode_mcu_AC_refine).
    let k = ss;
    const nonzero = (i: number) => (mask[at + (i >> 5)] & (1 << (i & 31))) !== 0;
    if (this.eobrun === 0) {
      for (; k <= se; k++) {
        const rs = this.decode(ac);
        if (rs < 0) return 'invalid AC Huffman code';
        let r = rs >> 4;
        const s = rs & 15;
        if (s) {
          if (s !== 1) return `refinement coefficient of ${s} bits`;
          this.skip(1);
        } else if (r !== 15) {
          this.eobrun = 1 << r;
          if (r) this.eobrun += this.getBits(r);
          break;
        }
        while (k <= se) {
          if (nonzero(k)) this.skip(1);
          else if (--r < 0) break;
          k++;
        }
        if (s) {
          if (k > se) return 'new coefficient past the end of the spectral band';
          mask[at + (k >> 5)] |= 1 << (k & 31);
        }
      }
    }
    if (this.eobrun > 0) {
      for (; k <= se; k++) if (nonzero(k)) this.skip(1);
      this.eobrun--;
    }
    return null;
  }

  /** Processes this validator does not decode: walk the markers after each SOS to the EOI. */
  private structureScan(): Outcome {
    for (let guard = 0; guard < MAX_JPEG_MARKERS; guard++) {
      let pos = this.p;
      if (this.byteAt(pos) !== 0xff) return this.fail(`expected a marker at byte ${pos - this.start}`, pos);
      let m = this.byteAt(pos + 1);
      while (m === 0xff) m = this.byteAt(++pos + 1);
      if (m < 0) return this.fail('data ends before the EOI', pos);
      if (m === EOI) {
        if (!this.sawScan) return this.fail('EOI before any scan', pos);
        return { done: true, result: this.result({ ok: true, validUpTo: pos + 2, structureOnly: true }) };
      }
      if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
        this.p = pos + 2;
        continue;
      }
      if (m < 0xc0) return this.fail(`invalid marker ${hex(m)} at byte ${pos - this.start}`, pos);
      const lb = this.bytes(pos + 2, 2);
      if (lb.length < 2 || lb.readUInt16BE(0) < 2) return this.fail('bad segment length', pos);
      const segEnd = pos + 2 + lb.readUInt16BE(0);
      if (segEnd > this.limit) return this.fail('segment runs past the end of the data', pos);
      if (m !== SOS) {
        this.p = segEnd;
        continue;
      }
      this.sawScan = true;
      const next = this.nextMarker(segEnd);
      if (next < 0) return this.fail('no EOI before the end of the data', segEnd);
      this.p = next;
    }
    return this.fail(`more than ${MAX_JPEG_MARKERS} marker segments`, this.p);
  }

  /** The next marker other than RSTn after `from` in entropy-coded data, or -1. */
  private nextMarker(from: number): number {
    let pos = from;
    while (pos < this.limit) {
      const chunk = this.reader.read(pos, Math.min(JPEG_SCAN_CHUNK, this.limit - pos));
      if (chunk.length === 0) return -1;
      let i = chunk.indexOf(0xff);
      while (i >= 0 && i + 1 < chunk.length) {
        const b = chunk[i + 1];
        if (b === 0x00 || (b >= 0xd0 && b <= 0xd7)) i = chunk.indexOf(0xff, i + 2);
        else if (b === 0xff) i++;
        else return pos + i;
      }
      const advance = i >= 0 ? i : chunk.length;
      if (advance === 0) return -1;
      pos += advance;
    }
    return -1;
  }
}


/**
 * The JPEG thumbnail an APP1 'Exif\0\0' segment holds (IFD1's JPEGInterchangeFormat and
 * length), absolute; only when it lies inside the segment and starts with SOI.
 */
function exifThumbnail(reader: Reader, at: number, length: number): { offset: number; length: number } | undefined {
  const head = reader.read(at, 6);
  if (head.length < 6 || head.toString('latin1') !== 'Exif\0\0') return undefined;
  const base = at + 6;
  const buf = Buffer.from(reader.read(base, length - 6));
  const header = parseTiffHeader(buf);
  if (!header) return undefined;
  const local = new ByteSource(new BufferReader(buf));
  const ifd0 = readIfd(local, 0, header.ifd0, header.le);
  if (typeof ifd0 === 'string' || ifd0.next === 0 || ifd0.next >= buf.length) return undefined;
  const ifd1 = readIfd(local, 0, ifd0.next, header.le);
  if (typeof ifd1 === 'string') return undefined;
  const o = findEntry(ifd1, 0x0201);
  const l = findEntry(ifd1, 0x0202);
  if (!o || !l) return undefined;
  const off = entryNumbers(local, o, header.le)[0];
  const len = entryNumbers(local, l, header.le)[0];
  if (off === undefined || len === undefined || len < 4 || off + len > buf.length) return undefined;
  if (buf[off] !== 0xff || buf[off + 1] !== 0xd8) return undefined;
  return { offset: base + off, length: len };
}

/** The MP Index of an APP2 'MPF\0' segment (`at` = first byte after the length). */
function parseMpf(reader: Reader, at: number, length: number): JpegValidation['mpf'] {
  const head = reader.read(at, 4);
  if (head.length < 4 || head.toString('latin1') !== 'MPF\0') return undefined;
  const base = at + 4;
  const buf = Buffer.from(reader.read(base, length - 4));
  const header = parseTiffHeader(buf);
  if (!header) return undefined;
  const local = new ByteSource(new BufferReader(buf));
  const ifd = readIfd(local, 0, header.ifd0, header.le);
  if (typeof ifd === 'string') return undefined;
  const entry = findEntry(ifd, 0xb002);
  if (!entry || entry.type !== 7 || entry.count % 16 !== 0) return undefined;
  const n = Math.min(entry.count / 16, MAX_MPF_IMAGES);
  const raw = local.bytes(entry.valueAt, n * 16);
  const images: { offset: number; size: number; type: number }[] = [];
  for (let i = 0; i + 16 <= raw.length; i += 16) {
    const u32 = (o: number) => (header.le ? raw.readUInt32LE(i + o) : raw.readUInt32BE(i + o));
    images.push({ offset: u32(8), size: u32(4), type: u32(0) & 0xffffff });
  }
  return { base, images };
}

/** Validate one image from `start` (absolute) on `reader`. */
export function validateJpeg(reader: Reader, start = 0, options: JpegValidateOptions = {}): JpegValidation {
  try {
    return new JpegValidator(reader, start, options).run();
  } catch (err) {
    return { ok: false, validUpTo: 0, reason: `validator error: ${(err as Error).message}`, mcus: 0, expectedMcus: 0 };
  }
}

export interface JpegFileValidation extends JpegValidation {
  /** The further images an MPF index lists, each validated. */
  images?: { offset: number; size: number; ok: boolean; reason?: string; validUpTo: number }[];
}

/**
 * The primary image and every further image its MPF index lists (each must lie inside
 * `length` bytes from `start` when a length is given). `validUpTo` is the primary's when it
 * fails, else the start of the first MPF image that fails.
 */
export function validateJpegFile(reader: Reader, start = 0, length?: number): JpegFileValidation {
  const primary = validateJpeg(reader, start, length !== undefined ? { maxLength: length } : {});
  if (!primary.ok || !primary.mpf) return primary;
  const out: JpegFileValidation = { ...primary, images: [] };
  const end = length !== undefined ? start + length : reader.size;
  for (const img of primary.mpf.images) {
    if (img.offset === 0) continue;
    const at = primary.mpf.base + img.offset;
    if (at < start + primary.validUpTo || at + img.size > end || img.size < 4) {
      out.images!.push({ offset: at - start, size: img.size, ok: false, reason: 'outside the file', validUpTo: 0 });
      continue;
    }
    const r = validateJpeg(reader, at, { maxLength: img.size });
    out.images!.push({ offset: at - start, size: img.size, ok: r.ok, reason: r.reason, validUpTo: r.validUpTo });
    if (!r.ok && out.ok) {
      out.ok = false;
      out.reason = `MPF image at byte ${at - start}: ${r.reason}`;
      out.validUpTo = at - start + r.validUpTo;
      out.failedAt = at - start + (r.failedAt ?? r.validUpTo);
    }
  }
  return out;
}
