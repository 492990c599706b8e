// The drainer benchmark's environment, in its own process so the drainer's CPU is measured alone:
// fauxqs + dynalite with the stack's resources, and an instant app (200 at once) on 127.0.0.1.
// Prints one JSON line (endpoints, resources, app URL, pid), then serves until killed.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createResources, localClients, startEmulators } from '../local/emulators';

async function main(): Promise<void> {
  const emulators = await startEmulators();
  const resources = await createResources(localClients(emulators), { queue: 'bench', table: 'bench-state' });
  let answered = 0;
  const app = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      answered++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  app.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', () => resolve()));
  const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  process.stdout.write(
    `${JSON.stringify({
      sqsEndpoint: emulators.sqsEndpoint,
      dynamoEndpoint: emulators.dynamoEndpoint,
      s3Endpoint: emulators.s3Endpoint,
      resources,
      appUrl,
    })}\n`,
  );
  // The parent asks for the app's count on stdin ("count\n"), and ends the environment by closing stdin.
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    if (chunk.includes('count')) process.stdout.write(`${JSON.stringify({ answered })}\n`);
  });
  process.stdin.on('end', () => {
    app.close();
    void emulators.stop().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
