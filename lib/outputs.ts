/** Stack outputs under the fixed keys of `core/resources` OUTPUTS, which the operations CLI looks up. */
import { CfnOutput } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { OUTPUTS } from '../core/resources';

/** Adds an output whose logical id is exactly `OUTPUTS[key]`, wherever in the tree it is declared. */
export function sluiceOutput(
  scope: Construct,
  key: keyof typeof OUTPUTS,
  value: string,
  description: string,
): CfnOutput {
  const output = new CfnOutput(scope, OUTPUTS[key], { value, description });
  output.overrideLogicalId(OUTPUTS[key]);
  return output;
}
