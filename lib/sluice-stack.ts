/** The Sluice stack: turns the validated configuration into the construct's props, nothing else. */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { SluiceConfig } from '../core/config';
import { Sluice } from './sluice';

export interface SluiceStackProps extends StackProps {
  /** The validated configuration (`parseConfig`). */
  readonly config: SluiceConfig;
}

/** One Sluice per stack. */
export class SluiceStack extends Stack {
  readonly sluice: Sluice;

  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);
    this.sluice = new Sluice(this, 'Sluice', { config: props.config });
  }
}
