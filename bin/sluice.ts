// Entry point of the `sluice` operations CLI (`npx sluice …`, `npm run sluice -- …`).

import { processIo } from '../cli/io';
import { runCli } from '../cli/program';

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
