import type { ByteSource } from '../source/source.js';
import { analyse } from '../analyse.js';
import { volumesToReport } from '../report.js';
import { formatBytes } from '../format.js';
import { inferGeometry } from '../pool.js';
import { carvers } from '../../carvers/registry.js';

export function infoCommand(source: ByteSource, opts: { volume?: number; json?: boolean }): number {
  const analysis = analyse(source, { volume: opts.volume });
  const volumes = volumesToReport(analysis);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ source: { path: source.path, size: source.size, kind: source.kind }, partitionTable: analysis.layout.scheme, volumes, gaps: analysis.layout.gaps, badRanges: source.badRanges.map((r) => [r.offset, r.length]), diagnostics: analysis.layout.diagnostics }, null, 2) + '\n');
    return 0;
  }
  const out: string[] = [];
  out.push(`Source: ${source.path} (${source.kind}, ${formatBytes(source.size)}, ${source.size} bytes)`);
  if (source.badRanges.length) out.push(`Unreadable: ${formatBytes(source.badBytes)} in ${source.badRanges.length} range(s) (read as zeros), first at byte ${source.badRanges[0].offset}`);
  const none = analysis.layout.tableUnusable ? 'none usable (read as one volume)' : 'none (the whole card is one volume)';
  out.push(`Partition table: ${analysis.layout.scheme === 'none' ? none : analysis.layout.scheme.toUpperCase()}`);
  for (const d of analysis.layout.diagnostics) out.push(`  ${d.severity}: ${d.message}`);
  for (const v of volumes) {
    out.push('');
    out.push(`Volume ${v.index}: offset ${v.offset}, ${formatBytes(v.length)}${v.partitionType ? `, partition type ${v.partitionType}` : ''}`);
    if (!v.fs) {
      out.push(`  File system: none (${v.problem})`);
      const g = inferGeometry(source, { offset: v.offset, length: v.length }, carvers);
      const seen = g.evidence ? ` (${g.evidence.agreeing} of ${g.evidence.headers} file headers agree)` : '';
      out.push(
        g.granularity > 512
          ? `  Inferred:        cluster size ${g.granularity} bytes, clusters aligned to byte ${g.alignBase % g.granularity}${seen}`
          : `  Inferred:        no cluster pattern; carving at 512-byte sectors${seen}`,
      );
      continue;
    }
    out.push(`  File system:     ${v.fs}${v.label ? `, label "${v.label}"` : ''}${v.serial ? `, serial ${v.serial}` : ''}`);
    out.push(`  Sector size:     ${v.bytesPerSector} bytes`);
    out.push(`  Cluster size:    ${v.clusterSize} bytes (${v.clusterCount} clusters)`);
    out.push(`  FATs:            ${v.fatCount} at byte ${v.fatOffset}`);
    out.push(`  Data area:       starts at byte ${v.dataOffset}`);
    const boot = { main: 'main', backup: 'BACKUP (main one is damaged)', rebuilt: 'NONE (geometry rebuilt from surviving folders)' } as Record<string, string>;
    out.push(`  Boot sector:     ${boot[v.bootSector ?? 'main']}`);
    const problems = v.diagnostics.filter((d) => d.severity !== 'info');
    out.push(`  Damage:          ${problems.length === 0 ? 'none found' : `${problems.length} problem(s)`}`);
    for (const d of problems.slice(0, 20)) out.push(`    ${d.severity}: ${d.message}`);
    if (problems.length > 20) out.push(`    ... and ${problems.length - 20} more (see --json)`);
  }
  if (analysis.layout.gaps.length) {
    out.push('');
    out.push(`Space outside every volume: ${analysis.layout.gaps.map((g) => `${formatBytes(g.length)} at ${g.offset}`).join(', ')}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
