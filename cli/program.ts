// The `sluice` operations CLI: one commander program, one file per command group, errors mapped to exit codes.
import { Command, CommanderError } from 'commander';
import { registerControls } from './control';
import { registerCost } from './cost';
import { registerDlq } from './dlq';
import { type CliIo, OperationError, UsageError } from './io';
import { registerStatus } from './status';

/** Exit codes: 0 done, 1 the operation failed, 2 bad arguments or an unknown target. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Builds the program. Output and exits go through `io`, so tests run it in-process. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('sluice')
    .description('Operate a Sluice webhook buffer: a deployed stack (--stack) or local mode (--local).')
    .option(
      '--stack <name>',
      'the deployed CloudFormation stack (or SLUICE_STACK); region from AWS_REGION or the AWS profile',
    )
    .option(
      '--region <region>',
      "AWS region of the stack (default: AWS_REGION, else the AWS profile's region)",
    )
    .option('--local', `local mode started by \`npm start\` (reads .local/sluice.json)`)
    .option('--state-file <path>', 'local mode state file to read instead of .local/sluice.json')
    .option('--json', 'print JSON instead of text')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  registerStatus(program, io);
  registerControls(program, io);
  registerDlq(program, io);
  registerCost(program, io);
  return program;
}

/** Runs the CLI on `argv` (without the node and script names); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" only to commander; everything else is a usage error it already printed.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof Error && (err as { code?: unknown }).code === 'controls') {
      io.err(`error: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof OperationError) {
      io.err(`error: ${err.message}`);
      return EXIT.failed;
    }
    const refused =
      err instanceof Error && /ECONNREFUSED/.test(`${(err as { code?: unknown }).code} ${err.message}`);
    if (refused && (argv.includes('--local') || argv.includes('--state-file'))) {
      io.err(
        `error: local mode is not answering (${err.message}): is \`npm start\` still running? A local mode that was killed leaves its state file (.local/sluice.json, or the --state-file given) behind: start it again.`,
      );
      return EXIT.failed;
    }
    io.err(`error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    return EXIT.failed;
  }
}
