/** What synth warns about in a deployed stack's downstream URL (local mode forwards to loopback on purpose). */
import { BlockList, isIP } from 'node:net';

/** Addresses a Lambda function outside any VPC cannot reach: loopback, private, link-local, shared, unspecified. */
const UNREACHABLE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const) {
  UNREACHABLE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  UNREACHABLE.addSubnet(net, bits, 'ipv6');
}

/** Names that only resolve inside a machine or a private network. */
const LOCAL_NAME = /(^|\.)(localhost|local|internal)\.?$/;

/**
 * Warnings for a deployed stack's downstream URL: a plain-http URL sends webhooks (customer data, and their
 * signatures) across the internet in clear text, and a loopback or private address is out of the drainer's
 * reach, so nothing would ever be delivered. IPv4-mapped IPv6 addresses are judged as their IPv4 address.
 */
export function downstreamWarnings(downstreamUrl: string): string[] {
  const url = new URL(downstreamUrl);
  const out: string[] = [];
  if (url.protocol === 'http:') {
    out.push(
      `downstreamUrl ${downstreamUrl} is plain http: webhooks (customer data) and their signatures would cross the internet unencrypted. Use https.`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const version = isIP(host);
  const unreachable =
    version === 0 ? LOCAL_NAME.test(host) : UNREACHABLE.check(host, version === 4 ? 'ipv4' : 'ipv6');
  if (unreachable) {
    out.push(
      `downstreamUrl ${downstreamUrl} names a loopback or private host: the drainer runs in AWS Lambda outside any VPC and reaches only public addresses, so webhooks would wait and then go to the DLQ.`,
    );
  }
  return out;
}
