// Kills the stack's emulators if the stack process dies without doing it (SIGKILL, a crash): the parent writes each
// engine's pid on this process's stdin, and when the parent is gone its end of the pipe closes.
const pids = new Set();
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const line of lines) {
    const [op, pid] = line.trim().split(' ');
    if (op === '+') pids.add(Number(pid));
    if (op === '-') pids.delete(Number(pid));
  }
});
process.stdin.on('end', () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.exit(0);
});
// Ctrl-C reaches the whole process group: the stack stops the engines itself; this one just waits for the pipe.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
