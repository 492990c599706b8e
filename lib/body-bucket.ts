/** The claim-check bucket: webhook bodies too large or not SQS-safe travel here, the message carries the key. */
import { Duration, Validations } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { QUEUE } from '../core/resources';

export interface BodyBucketProps {
  /**
   * How long a stored body is kept. @default 28 days: as long as a message can wait in the queue (14 days) and
   * then in the DLQ, where the drainer's move starts a new 14 days; a body expiring earlier would leave a dead
   * letter pointing at nothing, and its redrive would fail as `body-missing`.
   */
  readonly expiration?: Duration;
}

/** A private, encrypted, TLS-only bucket whose objects expire after the messages (and dead letters) that point at them. */
export class BodyBucket extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: BodyBucketProps = {}) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          expiration: props.expiration ?? Duration.seconds(2 * QUEUE.retentionSeconds),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Holds transient webhook bodies written only by the verify function and read only by the drainer, both via IAM; every write is in the verify function log and every read in the drainer log. A second logging bucket would add cost and its own findings.',
    });
  }
}
