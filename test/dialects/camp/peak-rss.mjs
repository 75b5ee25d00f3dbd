// Loaded with `node --import` into the built CLI by transfer.e2e.test.ts: the process's peak
// resident set size (KiB, getrusage ru_maxrss) on stderr as it exits.
process.on('exit', () => { process.stderr.write(`peak-rss-kib ${process.resourceUsage().maxRSS}\n`) })
