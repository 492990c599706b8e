/** Where the CDK app finds its configuration: `sluice.config.json`, then `-c key=value` context on top. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, FIELDS, parseConfig, type SluiceConfig } from '../core/config';

/** Context keys the app reads besides the config fields. */
export const APP_CONTEXT = {
  /** Path of a JSON config file. @default 'sluice.config.json' when it exists */
  configFile: 'configFile',
  /** Name of the CloudFormation stack. @default 'Sluice' */
  stackName: 'stackName',
} as const;

/** The default config file name, looked up in the working directory. */
export const CONFIG_FILE = 'sluice.config.json';

// CDK's own context keys carry ':', '/', '@' or '-' (feature flags, `aws:cdk:…`, `cli-telemetry`); Sluice's
// fields are plain camelCase. Taking every camelCase key lets parseConfig flag a typo instead of ignoring it.
const FIELD_LIKE = /^[a-z][A-Za-z0-9]*$/;

/**
 * Reads and validates the configuration from CDK context (and the config file it names or the default one
 * in `cwd`). Context values override file values. Throws ConfigError naming the field, value and what is allowed.
 */
export function appConfig(context: Readonly<Record<string, unknown>>, cwd: string): SluiceConfig {
  const fileName = context[APP_CONTEXT.configFile];
  const file = typeof fileName === 'string' ? path.resolve(cwd, fileName) : path.join(cwd, CONFIG_FILE);
  let fromFile: Record<string, unknown> = {};
  if (typeof fileName === 'string' || existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(
        APP_CONTEXT.configFile,
        file,
        `a readable JSON file is required (${String(err)})`,
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(APP_CONTEXT.configFile, file, 'allowed: a JSON object of config fields');
    }
    fromFile = { ...parsed };
  }
  const fromContext: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(context)) {
    if (FIELD_LIKE.test(key) && key !== APP_CONTEXT.configFile && key !== APP_CONTEXT.stackName) {
      fromContext[key] = value;
      continue;
    }
    // `-c rate_ceiling_per_second=…` or `-c downstream-url=…` would otherwise be ignored without a word.
    const meant = misspelledField(key);
    if (meant !== undefined) {
      throw new ConfigError(key, value, `unknown context key; the field is spelled ${meant}`);
    }
  }
  return parseConfig({ ...fromFile, ...fromContext });
}

/** The config field (or app context key) a snake_case or kebab-case key names, if any. */
function misspelledField(key: string): string | undefined {
  if (!/^[a-z][a-z0-9]*([_-][a-z0-9]+)+$/i.test(key)) return undefined;
  const camel = key.toLowerCase().replace(/[_-]([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const names = [...FIELDS.map((f) => f.key), APP_CONTEXT.configFile, APP_CONTEXT.stackName];
  return names.find((name) => name.toLowerCase() === camel.toLowerCase());
}
