/** BodyStorePort over S3: reads the claim-checked bodies the verify function stored. */
import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import type { BodyStorePort } from '../core/ports';

export interface S3BodiesOptions {
  readonly client: S3Client;
  readonly bucketName: string;
}

/** The claim-check bucket, read-only. */
export class S3Bodies implements BodyStorePort {
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3BodiesOptions) {
    this.client = options.client;
    this.bucket = options.bucketName;
  }

  /** The stored bytes exactly as received; undefined when the object is gone (the core dead-letters it). */
  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!out.Body) return undefined;
      return await out.Body.transformToByteArray();
    } catch (err) {
      if (err instanceof NoSuchKey || (err instanceof Error && err.name === 'NoSuchKey')) return undefined;
      throw err;
    }
  }
}
