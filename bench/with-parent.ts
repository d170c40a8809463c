// A bench process lives as long as the bench that started it: its stdin is a pipe from the bench
// (support.ts spawnServer), which closes when the bench exits, even killed with SIGKILL. The process
// then stops as on SIGTERM, so a killed bench leaves no server holding the database's connections.
export function stopWithParent(): void {
  process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
}
