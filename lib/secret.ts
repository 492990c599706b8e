/** The Shopify client secret(s) in Secrets Manager: imported by name, or created holding a placeholder. */
import { SecretValue, Validations } from 'aws-cdk-lib';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SECRET_COMPLETE_ARN } from '../core/config';
import { SECRET_PLACEHOLDER } from '../core/verify';

export interface ShopifySecretProps {
  /**
   * Name (or complete ARN) of an existing secret whose value is `"new,old"` or one secret.
   * @default a secret is created
   */
  readonly secretName?: string;
}

/**
 * The secret the verify function and the drainer check signatures with. A created secret holds
 * `SECRET_PLACEHOLDER` until the user sets it; readers treat the placeholder as "no secret yet" (verify answers
 * 503, so Shopify retries) rather than as a key.
 */
export class ShopifySecret extends Construct {
  readonly secret: ISecret;
  /** True when this stack owns the secret (and must not be trusted to hold a real value yet). */
  readonly created: boolean;

  constructor(scope: Construct, id: string, props: ShopifySecretProps = {}) {
    super(scope, id);
    if (props.secretName) {
      // An ARN read as a name would grant (and look up) `…:secret:arn:aws:…`: nothing, so nothing delivers.
      this.secret = SECRET_COMPLETE_ARN.test(props.secretName)
        ? Secret.fromSecretCompleteArn(this, 'Imported', props.secretName)
        : Secret.fromSecretNameV2(this, 'Imported', props.secretName);
      this.created = false;
      return;
    }
    const secret = new Secret(this, 'Secret', {
      description: 'Shopify app client secret(s) for Sluice: "current" or "new,old" during a rotation.',
      // A placeholder, not a credential: the real value is set out of band (README "Deploy") and never in code.
      secretStringValue: SecretValue.unsafePlainText(SECRET_PLACEHOLDER),
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A Shopify client secret is issued and rotated by Shopify in the Partner/Dev Dashboard; no Lambda can rotate it. Rotation is supported by storing "new,old".',
    });
    this.secret = secret;
    this.created = true;
  }
}
