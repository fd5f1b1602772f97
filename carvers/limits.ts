/**
 * Every bound the carvers put on untrusted structure, in one place. A carver walks bytes
 * that may be anything (a half-overwritten file, random slack, another format), so each
 * loop and each declared size is checked against one of these rather than a literal.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

// ---- JPEG -------------------------------------------------------------------------------

/** Largest JPEG we believe (a 100 MP camera's fine JPEG with MPF previews stays well below). */
export const MAX_JPEG_SIZE = 64 * MiB;
/** Marker segments (APPn, DQT, DHT, SOS, ...) in one image; progressive files have tens. */
export const MAX_JPEG_MARKERS = 4096;
/** The entropy-coded data is searched for the next marker in reads of this size. */
export const JPEG_SCAN_CHUNK = 1 * MiB;
/** Images listed in an MPF index (cameras write 2–3; stereo / multi-angle files a few more). */
export const MAX_MPF_IMAGES = 64;
/** Whole JPEGs appended right after the EOI without an MPF index (Samsung, HTC second images). */
export const MAX_APPENDED_JPEGS = 4;
/** Camera padding after the last image runs to a boundary of this size (Sony: 32 KiB). */
export const TRAILER_PADDING_ALIGN = 32 * KiB;
/** How far past the EOI a Samsung SEF trailer's end ('SEFT') is searched for. */
export const MAX_SEF_TRAILER = 64 * MiB;
/** How much of an APP1 Exif segment is parsed for the camera and date. */
export const MAX_EXIF_META_BYTES = 64 * KiB;
/** Bytes an encoder may leave between a scan's last MCU and the next marker (the entropy validator). */
export const JPEG_SCAN_TAIL = 16;

// ---- Fragment reassembly (src/reassemble.ts) ---------------------------------------------

/** Clusters of the pool skipped between the first fragment and the second (gap g = 1 .. this). */
export const MAX_GAP_CLUSTERS = 4096;
/** Cluster boundaries tried as the end of the first fragment, going back from where the decoding failed. */
export const MAX_SPLIT_CANDIDATES = 32;
/** (split, gap) pairs tried for one file. */
export const MAX_REASSEMBLY_CANDIDATES = 50_000;
/** Bytes the validator may decode while trying the candidates of one file (about a second). */
export const MAX_REASSEMBLY_WORK = 128 * MiB;
/** ... and over all files of one carving region (a card full of starts with no second fragment: about a minute). */
export const MAX_REASSEMBLY_REGION_WORK = 4 * GiB;

// ---- TIFF and TIFF-based raws ------------------------------------------------------------

/** A raw larger than this is not believed; references further away are ignored. */
export const MAX_RAW_SIZE = 256 * MiB;
/** IFDs in one file (IFD chain, SubIFDs, EXIF, GPS, interop, maker notes and theirs). */
export const MAX_TIFF_IFDS = 256;
/** Entries in one IFD; real maker notes have a few hundred. */
export const MAX_IFD_ENTRIES = 1024;
/** Values of one strip/tile offset or byte-count array that are read. */
export const MAX_TIFF_STRIPS = 1 << 20;
/** SubIFD offsets followed from one SubIFDs tag. */
export const MAX_SUB_IFDS = 32;
/** Nesting depth of IFD references (IFD0 → EXIF → maker note → its sub-IFDs ...). */
export const MAX_IFD_DEPTH = 8;

// ---- ISO BMFF ----------------------------------------------------------------------------

/** Top-level boxes walked in one file (camera files have 3–10; fragmented MP4 has many). */
export const MAX_BMFF_BOXES = 100_000;
/** Largest moov/meta read to find the camera model. */
export const MAX_BMFF_META_BYTES = 16 * MiB;
/** Largest BMFF file believed (exFAT cards hold 4 GiB+ clips). */
export const MAX_BMFF_SIZE = 256 * GiB;

// ---- RIFF --------------------------------------------------------------------------------

/** 'RIFF....AVIX' continuation chunks followed after the first RIFF (each up to 1 GiB). */
export const MAX_RIFF_CONTINUATIONS = 1024;
/** Sub-chunks of a RIFF checked for tiling its declared size. */
export const MAX_RIFF_SUBCHUNKS = 4096;

// ---- MPEG transport stream ---------------------------------------------------------------

/** Largest transport stream believed. */
export const MAX_TS_SIZE = 64 * GiB;
/** Packets read at once while following the sync byte. */
export const TS_SCAN_PACKETS = 8192;

// ---- CIFF (Canon CRW) --------------------------------------------------------------------

/** Largest CRW believed. */
export const MAX_CRW_SIZE = 64 * MiB;
/** Entries in one CIFF directory. */
export const MAX_CIFF_ENTRIES = 1024;

// ---- MPEG program stream -----------------------------------------------------------------

/** Largest program stream believed. */
export const MAX_PS_SIZE = 4 * GiB;
/** Packs and packets walked (a 4 GiB stream of 2 KiB packs has two million). */
export const MAX_PS_PACKETS = 4_000_000;

// ---- Fuji RAF ----------------------------------------------------------------------------

/** Largest RAF believed. */
export const MAX_RAF_SIZE = 256 * MiB;
