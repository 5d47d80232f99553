import { performance } from 'node:perf_hooks';

/**
 * How long one step of a run took: wall time, and the CPU time the process spent meanwhile
 * (requests it served at the same time count too, so it is an upper bound of the step's own).
 */
export interface PhaseTiming<Phase extends string = string> {
  phase: Phase;
  ms: number;
  cpuMs: number;
}

/** Times consecutive steps: each `lap` closes the step that ran since the previous one. */
export class PhaseTimer<Phase extends string> {
  readonly timings: PhaseTiming<Phase>[] = [];
  private wall = performance.now();
  private cpu = process.cpuUsage();

  lap(phase: Phase): void {
    const wall = performance.now();
    const cpu = process.cpuUsage(this.cpu);
    this.timings.push({ phase, ms: round(wall - this.wall), cpuMs: round((cpu.user + cpu.system) / 1000) });
    this.wall = wall;
    this.cpu = process.cpuUsage();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
