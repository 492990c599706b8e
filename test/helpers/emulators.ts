/** Jest setup of the embedded emulators (fauxqs + dynalite) that the integration tests share. */
import { type Emulators, type LocalClients, localClients, startEmulators } from '../../local/emulators';

/** The emulators' endpoints and SDK clients, readable inside hooks and tests of the block that set them up. */
export interface EmulatorsInUse {
  readonly emulators: Pick<Emulators, 'sqsEndpoint' | 's3Endpoint' | 'dynamoEndpoint'>;
  readonly clients: LocalClients;
}

/**
 * Starts one set of emulators before the enclosing `describe` block's tests and stops it after them.
 * Call it at describe time; the returned objects look the running set up on each use, so destructuring them
 * right away is fine, but reading a field before `beforeAll` has run throws.
 */
export function useEmulators(): EmulatorsInUse {
  let running: { readonly emulators: Emulators; readonly clients: LocalClients } | undefined;
  beforeAll(async () => {
    const emulators = await startEmulators();
    running = { emulators, clients: localClients(emulators) };
  });
  afterAll(async () => {
    await running?.emulators.stop();
    running = undefined;
  });
  const current = (): { readonly emulators: Emulators; readonly clients: LocalClients } => {
    if (!running)
      throw new Error('useEmulators: the emulators are not running here (use them in hooks and tests)');
    return running;
  };
  return {
    emulators: {
      get sqsEndpoint() {
        return current().emulators.sqsEndpoint;
      },
      get s3Endpoint() {
        return current().emulators.s3Endpoint;
      },
      get dynamoEndpoint() {
        return current().emulators.dynamoEndpoint;
      },
    },
    clients: {
      get sqs() {
        return current().clients.sqs;
      },
      get dynamo() {
        return current().clients.dynamo;
      },
      get s3() {
        return current().clients.s3;
      },
    },
  };
}
