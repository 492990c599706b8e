import { PutObjectCommand } from '@aws-sdk/client-s3';
import { S3Bodies } from '../../adapters/s3-bodies';
import { createResources } from '../../local/emulators';
import { useEmulators } from '../helpers/emulators';

describe('S3Bodies against fauxqs', () => {
  const { clients } = useEmulators();
  let bodies: S3Bodies;
  let bucket: string;

  beforeAll(async () => {
    bucket = (await createResources(clients)).bucketName;
    bodies = new S3Bodies({ client: clients.s3, bucketName: bucket });
  });

  it('returns the stored bytes exactly when the object exists', async () => {
    const bytes = Buffer.from([0x7b, 0x00, 0xff, 0xc3, 0xbc, 0x7d]);
    await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bodies/w1', Body: bytes }));

    const got = await bodies.get('bodies/w1');

    expect(Buffer.from(got!).equals(bytes)).toBe(true);
  });

  it('returns undefined when the object is gone', async () => {
    expect(await bodies.get('bodies/missing')).toBeUndefined();
  });
});
