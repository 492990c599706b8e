// Entry point of the `sluice` operations CLI (`npx sluice …`, `npm run sluice -- …`).

import { processIo } from '../cli/io';
import { runCli } from '../cli/program';

// The AWS SDK's Node 20 end-of-support notice would top every command's output; the README states the Node plan.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
