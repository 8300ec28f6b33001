// Preload for profiling the daemon under the benchmark: Node 20 refuses
// --cpu-prof in NODE_OPTIONS, but allows --import, so this module starts the
// V8 CPU profiler in-process and writes a .cpuprofile (Chrome DevTools /
// speedscope format) when the process exits.
//   NODE_OPTIONS=--import=<url of this file> BENCH_PROFILE_DIR=<dir>
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  // Same-thread inspector sessions answer synchronously, so this also works
  // inside an 'exit' handler.
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      const name = path.basename(process.argv[1] ?? 'node', '.js');
      writeFileSync(path.join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
