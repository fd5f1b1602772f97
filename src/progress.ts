import cliProgress from 'cli-progress';
import { formatBytes } from './format.js';

export type Stage = 'scan' | 'write';

/** What long work reports as it goes. `done`/`total` are bytes for both stages. */
export interface ProgressEvent {
  stage: Stage;
  done: number;
  total: number;
  /** Files found so far, by provenance. */
  found: Record<string, number>;
}

export interface ProgressReporter {
  update(event: ProgressEvent): void;
  stop(): void;
}

const STAGE_LABEL: Record<Stage, string> = { scan: 'Scanning', write: 'Writing ' };

function foundText(found: Record<string, number>): string {
  const parts = Object.entries(found)
    .filter(([, n]) => n > 0)
    .map(([p, n]) => `${n} ${p}`);
  return parts.length ? parts.join(', ') : 'none yet';
}

/**
 * A progress bar on a terminal (cli-progress), a plain line every few seconds when stderr
 * is a file or a pipe, nothing with --quiet. Always on stderr: stdout stays for --json.
 */
export function createProgressReporter(options: { quiet?: boolean; stream?: NodeJS.WriteStream; intervalMs?: number } = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update() {}, stop() {} };
  if (stream.isTTY) return barReporter(stream);
  const fromEnv = Number(process.env.CARDRESCUE_PROGRESS_MS);
  return lineReporter(stream, options.intervalMs ?? (Number.isFinite(fromEnv) && fromEnv >= 0 && process.env.CARDRESCUE_PROGRESS_MS ? fromEnv : 5000));
}

function barReporter(stream: NodeJS.WriteStream): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{stage} {bar} {percentage}% {doneText}/{totalText} {rate}/s ETA {eta_formatted} | found: {found}',
      barsize: 16,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let stage: Stage | undefined;
  let stageStart = Date.now();
  return {
    update(e) {
      if (e.stage !== stage) {
        if (stage) bar.stop();
        stage = e.stage;
        stageStart = Date.now();
        bar.start(Math.max(1, e.total), 0, payload(e, stageStart));
      }
      bar.setTotal(Math.max(1, e.total));
      bar.update(e.done, payload(e, stageStart));
    },
    stop() {
      if (stage) bar.stop();
    },
  };
}

function payload(e: ProgressEvent, since: number) {
  const seconds = Math.max(0.001, (Date.now() - since) / 1000);
  return {
    stage: STAGE_LABEL[e.stage],
    doneText: formatBytes(e.done),
    totalText: formatBytes(e.total),
    rate: formatBytes(Math.round(e.done / seconds)),
    found: foundText(e.found),
  };
}

function lineReporter(stream: NodeJS.WriteStream, intervalMs: number): ProgressReporter {
  let stage: Stage | undefined;
  let stageStart = Date.now();
  let last = 0;
  let printed = false;
  return {
    update(e) {
      const now = Date.now();
      if (e.stage !== stage) {
        stage = e.stage;
        stageStart = now;
        last = now;
        printed = false;
      }
      // Short work stays silent; long work says where it is every few seconds, and that it finished.
      const due = now - last >= intervalMs && e.done > 0;
      const finished = e.done >= e.total && printed;
      if (!due && !finished) return;
      if (finished && !due && last === now) return;
      last = now;
      printed = true;
      const p = payload(e, stageStart);
      const pct = e.total ? Math.floor((100 * e.done) / e.total) : 100;
      stream.write(`${p.stage.trim().toLowerCase()}: ${p.doneText} of ${p.totalText} (${pct}%), ${p.rate}/s, found: ${p.found}\n`);
    },
    stop() {},
  };
}
