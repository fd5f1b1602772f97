// The command's entry, bundled into dist/cardrescue-bundle.cjs (tools/bundle.mjs). A scan's
// reading threads were started by the launcher (src/launch/load.ts) before this was loaded; the
// command takes them over once its source is open (src/cli.ts).
import './cli.js';
