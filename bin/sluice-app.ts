/** The CDK app: configuration from context or sluice.config.json, one Sluice stack, cdk-nag on every synth. */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../core/config';
import { APP_CONTEXT, appConfig } from '../lib/app-config';
import { SluiceStack } from '../lib/sluice-stack';

const app = new App();
let config: ReturnType<typeof appConfig>;
try {
  config = appConfig(app.node.getAllContext(), process.cwd());
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  // How to fix it: a setting is given with -c or in the file; the file itself is fixed where it is; a key that
  // is no setting is removed (its message lists the allowed ones).
  const hint =
    err.field === APP_CONTEXT.configFile
      ? 'Fix that file, or point -c configFile=… at another (README "Configuration").'
      : err.allowed.startsWith('unknown field')
        ? 'Remove it, or correct its spelling (README "Configuration").'
        : `Set it with -c ${err.field}=… or in sluice.config.json (README "Configuration").`;
  console.error(`${err.message}\n${hint}`);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
const stackName = app.node.tryGetContext(APP_CONTEXT.stackName);
new SluiceStack(app, typeof stackName === 'string' && stackName ? stackName : 'Sluice', {
  config,
  description: 'Sluice: a webhook buffer for a Shopify app (https://github.com/sluice)',
});
