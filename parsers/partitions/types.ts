export interface Partition {
  /** 1-based number as the user sees it (sdX1, sdX2, ...). */
  number: number;
  /** Byte offset on the disk. */
  offset: number;
  length: number;
  /** MBR type byte as hex ('0x0c') or the GPT type GUID. */
  type: string;
  /** A readable name for the type, when known. */
  typeName?: string;
  name?: string;
}
