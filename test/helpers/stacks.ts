/** Fast test stacks: no bundling, no built-in CloudFormation validation (one full synth test keeps both on). */
import { App } from 'aws-cdk-lib';
import { parseConfig, type SluiceConfig } from '../../core/config';
import { SluiceStack } from '../../lib/sluice-stack';

/** An app that skips asset bundling and CloudFormation validation, for sub-second construct tests. */
export const fastApp = (): App =>
  new App({ builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': [] } });

/** A valid configuration with `overrides` applied. */
export const testConfig = (overrides: Readonly<Record<string, unknown>> = {}): SluiceConfig =>
  parseConfig({ downstreamUrl: 'https://app.example.com', ...overrides });

/** A Sluice stack in a fast app. */
export function testStack(
  overrides: Readonly<Record<string, unknown>> = {},
  app: App = fastApp(),
): SluiceStack {
  return new SluiceStack(app, 'Test', { config: testConfig(overrides) });
}
