// AWS list prices (us-east-1) behind `sluice cost`, each with its source and the date it was read.

/** One unit price, with where it comes from, so a reader can re-check it before putting it in a budget. */
export interface Price {
  /** US dollars per `unit`. */
  readonly usd: number;
  readonly unit: string;
  readonly source: string;
}

/** Region the table holds prices for. Other regions differ by a few percent; re-check before budgeting. */
export const PRICE_REGION = 'us-east-1';

/**
 * When the prices were read. They come from the team's research snapshot (`research/aws-facts.md` §8, sources
 * read Aug–Sep 2026); Secrets Manager and S3 were read from secondary summaries of the AWS pages on the same day.
 */
export const PRICES_AS_OF = '2026-09';

const LAMBDA = 'https://aws.amazon.com/lambda/pricing/';
const SQS = 'https://aws.amazon.com/sqs/pricing/';
const CW = 'https://aws.amazon.com/cloudwatch/pricing/';

/** The price table. Free tiers are listed separately and ignored by default (they end; bills at scale don't). */
export const PRICES = {
  httpApiRequest: {
    usd: 1.0 / 1e6,
    unit: 'request (per 512 KB, first 300 M/month)',
    source: 'https://aws.amazon.com/api-gateway/pricing/',
  },
  restApiRequest: {
    usd: 3.5 / 1e6,
    unit: 'request (first 333 M/month)',
    source: 'https://aws.amazon.com/api-gateway/pricing/',
  },
  lambdaRequest: { usd: 0.2 / 1e6, unit: 'invocation', source: LAMBDA },
  lambdaGbSecondArm: { usd: 0.0000133334, unit: 'GB-second (arm64, first tier)', source: LAMBDA },
  lambdaGbSecondX86: { usd: 0.0000166667, unit: 'GB-second (x86_64, first tier)', source: LAMBDA },
  sqsFifoRequest: { usd: 0.5 / 1e6, unit: 'FIFO request (per 64 KB chunk)', source: SQS },
  sqsStandardRequest: { usd: 0.4 / 1e6, unit: 'standard request (per 64 KB chunk)', source: SQS },
  dataTransferOutGb: {
    usd: 0.09,
    unit: 'GB out to the internet (first 10 TB/month; the first 100 GB/month free, ignored here)',
    source: 'https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer',
  },
  dynamoWrite: {
    usd: 0.625 / 1e6,
    unit: 'on-demand write request unit (≤ 1 KB)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the Nov 2024 cut)',
  },
  dynamoRead: {
    usd: 0.125 / 1e6,
    unit: 'on-demand read request unit (strongly consistent ≤ 4 KB)',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the Nov 2024 cut)',
  },
  logsIngestGb: { usd: 0.5, unit: 'GB of logs ingested (standard class)', source: CW },
  customMetricMonth: { usd: 0.3, unit: 'custom metric-month (first 10,000)', source: CW },
  dashboardMonth: { usd: 3.0, unit: 'dashboard-month (beyond 3 free)', source: CW },
  alarmMetricMonth: { usd: 0.1, unit: 'standard-resolution alarm metric-month', source: CW },
  secretMonth: {
    usd: 0.4,
    unit: 'secret-month',
    source: 'https://aws.amazon.com/secrets-manager/pricing/',
  },
  secretApiCall: {
    usd: 0.05 / 10_000,
    unit: 'API call',
    source: 'https://aws.amazon.com/secrets-manager/pricing/',
  },
  s3Put: { usd: 0.005 / 1000, unit: 'S3 Standard PUT', source: 'https://aws.amazon.com/s3/pricing/' },
  s3Get: { usd: 0.0004 / 1000, unit: 'S3 Standard GET', source: 'https://aws.amazon.com/s3/pricing/' },
  eventBridgeScheduledRule: {
    usd: 0,
    unit: 'scheduled-rule invocation (AWS-generated events are not charged)',
    source: 'https://aws.amazon.com/eventbridge/pricing/',
  },
  eventBridgePartnerEvent: {
    usd: 1.0 / 1e6,
    unit: 'partner event (per 64 KB chunk)',
    source: 'https://aws.amazon.com/eventbridge/pricing/ (amount via a secondary source)',
  },
  eventBridgeApiDestination: {
    usd: 0.2 / 1e6,
    unit: 'API-destination invocation',
    source: 'https://aws.amazon.com/eventbridge/pricing/ (amount via a secondary source)',
  },
} as const satisfies Record<string, Price>;
