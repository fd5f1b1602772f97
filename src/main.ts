// The command's entry, bundled into dist/cardrescue-bundle.cjs (tools/bundle.mjs). A scan's
// reading thread is started first (src/start-early.ts), and boots on the other core while the
// rest of the tool sets itself up; in the bundle, modules run in the order they are imported.
import './start-early.js';
import './cli.js';
