import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SluiceStack } from '../../lib/sluice-stack';
import { testConfig } from '../helpers/stacks';

describe('SluiceStack full synth', () => {
  it('bundles every function and passes CloudFormation validation and cdk-nag AwsSolutions', () => {
    // Bundling, the built-in CloudFormation validation and cdk-nag all on, as `cdk synth` runs them;
    // any unacknowledged finding makes app.synth() throw "ValidationFailed".
    const app = new App();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    new SluiceStack(app, 'Full', { config: testConfig() });

    const assembly = app.synth();

    const bundles = readdirSync(assembly.directory).filter((d) => d.startsWith('asset.'));
    const withHandler = bundles.filter((d) =>
      readdirSync(path.join(assembly.directory, d)).includes('index.js'),
    );
    expect(withHandler.length).toBeGreaterThanOrEqual(2);
  });
});
