#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=4
// The flags above: see "V8 heap flags" in docs/architecture.md. Launchers that run this file
// through `node` (the test harness, the benchmark) read the flags from this line.

/*
 * Why this entry point is CommonJS: libuv sizes its thread pool once, from UV_THREADPOOL_SIZE,
 * when the pool is first used, and Node's loader of an ES module entry already uses it — only a
 * CommonJS entry (loaded with synchronous reads) runs before. Why more than libuv's four
 * threads: on a filesystem mounted with `discard` (as on these machines), every unlink waits
 * inside the kernel while the device trims the freed blocks (0.15–0.3 ms a file), and four
 * threads let only four such waits overlap: deleting 1,500 blobs took 260–350 ms through four
 * threads and 120–255 ms sixteen at a time. Reads and writes that wait on the disk gain the same
 * way. An operator's own setting wins.
 */
process.env['UV_THREADPOOL_SIZE'] ??= '16';

void import('./commands.js').then(({ run }) => run(process.argv.slice(2)));
