// CPU slices for simulated hosts: one control group per host, so a bench can (a) cap each
// host at its share of this machine's cores, as real hosts each bring their own CPU, and
// (b) read how much CPU time each host's processes (agent, op workers, nix, git) used.
// cgroup v1 (separate `cpu` and `cpuacct` hierarchies) and v2 (`cpu.max`, `cpu.stat`) are
// both handled; a machine with neither (or not root) gets `undefined` from openCpuSlices.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const PERIOD_US = 100_000;

export interface CpuSlice {
  /** Put a process (and so every child it starts from now on) into this slice. */
  add(pid: number): void;
  /** Cap this slice at `cores` CPUs (e.g. 0.2), or remove the cap with `undefined`. */
  cap(cores: number | undefined): void;
  /** CPU time used by the slice's processes so far, in milliseconds. */
  usageMs(): number;
}

export interface CpuSlices {
  kind: 'cgroup v1' | 'cgroup v2';
  slice(name: string): CpuSlice;
  /** Remove the groups; call after every process in them has exited. */
  dispose(): void;
}

/** rmdir a control group; a process that is still exiting keeps it busy for a moment. */
function removeGroup(dir: string): void {
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  console.error(`bench: control group ${dir} still has processes; remove it with rmdir once they exit`);
}

function v1(prefix: string): CpuSlices | undefined {
  const cpuRoot = '/sys/fs/cgroup/cpu';
  const acctRoot = existsSync('/sys/fs/cgroup/cpuacct/cpuacct.usage') ? '/sys/fs/cgroup/cpuacct' : existsSync(path.join(cpuRoot, 'cpuacct.usage')) ? cpuRoot : undefined;
  if (!existsSync(path.join(cpuRoot, 'cpu.cfs_quota_us')) || !acctRoot) return undefined;
  const made: string[] = [];
  const mk = (root: string, name: string) => {
    const dir = path.join(root, prefix, name);
    mkdirSync(dir, { recursive: true });
    made.push(dir);
    return dir;
  };
  try {
    mk(cpuRoot, '.probe');
  } catch {
    return undefined;
  }
  return {
    kind: 'cgroup v1',
    slice(name) {
      const cpu = mk(cpuRoot, name);
      const acct = acctRoot === cpuRoot ? cpu : mk(acctRoot, name);
      writeFileSync(path.join(cpu, 'cpu.cfs_period_us'), String(PERIOD_US));
      return {
        add(pid) {
          writeFileSync(path.join(cpu, 'cgroup.procs'), String(pid));
          if (acct !== cpu) writeFileSync(path.join(acct, 'cgroup.procs'), String(pid));
        },
        cap(cores) {
          writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), cores === undefined ? '-1' : String(Math.max(1000, Math.round(cores * PERIOD_US))));
        },
        usageMs: () => Number(readFileSync(path.join(acct, 'cpuacct.usage'), 'utf8')) / 1e6,
      };
    },
    dispose() {
      for (const dir of [...made.reverse(), ...new Set([cpuRoot, acctRoot].map((r) => path.join(r, prefix)))]) removeGroup(dir);
    },
  };
}

function v2(prefix: string): CpuSlices | undefined {
  const root = '/sys/fs/cgroup';
  try {
    if (!readFileSync(path.join(root, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) return undefined;
    const top = path.join(root, prefix);
    mkdirSync(top);
    writeFileSync(path.join(root, 'cgroup.subtree_control'), '+cpu');
    writeFileSync(path.join(top, 'cgroup.subtree_control'), '+cpu');
  } catch {
    return undefined;
  }
  const made: string[] = [];
  return {
    kind: 'cgroup v2',
    slice(name) {
      const dir = path.join(root, prefix, name);
      mkdirSync(dir);
      made.push(dir);
      return {
        add: (pid) => writeFileSync(path.join(dir, 'cgroup.procs'), String(pid)),
        cap: (cores) => writeFileSync(path.join(dir, 'cpu.max'), cores === undefined ? `max ${PERIOD_US}` : `${Math.max(1000, Math.round(cores * PERIOD_US))} ${PERIOD_US}`),
        usageMs: () => Number(/usage_usec (\d+)/.exec(readFileSync(path.join(dir, 'cpu.stat'), 'utf8'))?.[1] ?? NaN) / 1000,
      };
    },
    dispose() {
      for (const dir of [...made.reverse(), path.join(root, prefix)]) removeGroup(dir);
    },
  };
}

/** Slices under a group named after this process; undefined when the machine has no usable cgroup cpu controller. */
export function openCpuSlices(): CpuSlices | undefined {
  const prefix = `nixfleet-bench-${process.pid}`;
  return v1(prefix) ?? v2(prefix);
}
