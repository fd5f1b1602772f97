// The recovery tools under comparison. Each tool: { name, cmds (needed executables), apt,
// optional, run(scenario, outDir, ctx) -> { seconds, exit, note } , ignore(relPath) }.
// Every tool is run sequentially, with nothing else running, and timed as wall-clock time.
import fs from 'node:fs';
import path from 'node:path';
import { run } from './util.mjs';

// PhotoRec file families: jpg; mov = mov/mp4/3gp and, in 7.x, the ftyp brands heic and crx (CR3);
// tif = TIFF-based raws (CR2, NEF, DNG, ...); riff = AVI/WAV; crw = Canon CIFF raw.
const PHOTOREC_TYPES = ['jpg', 'mov', 'tif', 'riff', 'crw'];

function timed(cmd, args, opts) {
  const r = run(cmd, args, { check: false, ...opts });
  const note = r.timedOut ? `timed out after ${opts.timeoutSec}s`
    : r.status !== 0 ? `exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? ''}`.slice(0, 200) : '';
  return { seconds: r.seconds, exit: r.status, note };
}

export function makeTools({ repoRoot, workDir }) {
  const cli = path.join(repoRoot, 'dist', 'cardrescue.js');
  return [
    {
      name: 'cardrescue',
      cmds: ['node'],
      apt: null,
      check: () => {
        if (!fs.existsSync(cli)) return `${cli} missing: run \`npm ci\` or \`npx tsc -p .\` first`;
        const r = run('node', [cli, '--help'], { check: false, timeoutSec: 60 });
        return r.status === 0 ? null : `\`node dist/cardrescue.js --help\` fails: ${r.stderr.trim().split('\n')[0]}`;
      },
      run: (sc, out, { timeoutSec }) =>
        timed('node', [cli, 'recover', sc.image, '--out', out], { timeoutSec }),
      ignore: (rel) => rel === 'report.json' || rel === 'report.html',
    },
    {
      name: 'photorec',
      cmds: ['photorec'],
      apt: 'testdisk',
      // partition_none: the whole image is one "partition"; PhotoRec still recognises a FAT/exFAT
      // boot sector at its start (superfloppy) and uses the cluster size as block size; on MBR
      // images it scans the whole disk and infers block size/alignment from the headers it finds.
      run: (sc, out, { timeoutSec }) => {
        fs.mkdirSync(out, { recursive: true }); // PhotoRec writes photorec.log/.ses to its cwd
        const cmd = ['partition_none', 'fileopt', 'everything', 'disable',
          ...PHOTOREC_TYPES.flatMap((t) => [t, 'enable']), 'wholespace', 'search'].join(',');
        return timed('photorec', ['/log', '/d', path.join(out, 'recup'), '/cmd', sc.image, cmd], { cwd: out, timeoutSec });
      },
      ignore: (rel) => !rel.startsWith('recup.') || rel.endsWith('/report.xml'),
    },
    {
      name: 'foremost',
      cmds: ['foremost'],
      apt: 'foremost',
      run: (sc, out, { timeoutSec }) =>
        timed('foremost', ['-t', 'jpg,mov,mp4,avi', '-i', sc.image, '-o', out], { timeoutSec }),
      ignore: (rel) => rel === 'audit.txt',
    },
    {
      name: 'tsk_recover',
      cmds: ['tsk_recover'],
      apt: 'sleuthkit',
      // -e: allocated and unallocated (deleted/orphan) files; -o: file system offset in sectors.
      run: (sc, out, { timeoutSec }) => {
        fs.mkdirSync(out, { recursive: true });
        const off = sc.partitionOffset ? ['-o', String(sc.partitionOffset / 512)] : [];
        return timed('tsk_recover', ['-e', ...off, sc.image, out], { timeoutSec });
      },
      ignore: () => false,
    },
    {
      name: 'scalpel',
      cmds: ['scalpel'],
      apt: 'scalpel',
      optional: true,
      // Debian's /etc/scalpel/scalpel.conf with the jpg, avi and mov rules uncommented (all others
      // stay off: the tif rules have no footer and carve 200 MB per TIFF header).
      run: (sc, out, { timeoutSec }) => {
        const conf = path.join(workDir, 'scalpel.conf');
        if (!fs.existsSync(conf)) {
          const lines = fs.readFileSync('/etc/scalpel/scalpel.conf', 'utf8').split('\n')
            .filter((l) => /^#\s*(jpg|avi|mov)\s/.test(l)).map((l) => l.replace(/^#\s*/, '\t'));
          fs.writeFileSync(conf, lines.join('\n') + '\n');
        }
        return timed('scalpel', ['-c', conf, '-o', out, sc.image], { timeoutSec });
      },
      ignore: (rel) => rel === 'audit.txt',
    },
  ];
}
