// What every benchmark shares, one concern a file: the processes (support/processes.ts), the caller side
// (support/caller.ts), what a process costs (support/proc-stats.ts), the figures and their table (support/report.ts).
export * from './support/caller.ts';
export * from './support/processes.ts';
export * from './support/proc-stats.ts';
export * from './support/report.ts';
