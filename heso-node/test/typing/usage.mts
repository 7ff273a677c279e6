// A usage example, type-checked with `tsc --noEmit --strict` (module nodenext): the ES
// module entry point resolves through the package's `exports` and its types hold.
import OpenAI from 'openai';
import heso, {
  BlockedError,
  type ToolOptions,
  type PinStatus,
  type ReceiptReport,
  type Verdict,
  SuspendedError,
  init,
  resume,
  step,
  tool,
  toolSync,
  destructive,
  verify,
  verifyLog,
  type LogReport,
  wrap,
} from 'heso';

init();
init(new URL('file:///tmp/project/'));

const search = tool(async function search(query: string, limit: number): Promise<string[]> {
  return [query.repeat(limit)];
});
const results: string[] = await search('pricing', 2);
// @ts-expect-error: the gated function keeps the parameters' types
await search(42, 2);

const options: ToolOptions = { redact: ['apiKey'], redactMode: 'commit_and_reveal', blocking: true };
const callPartner = tool(async ({ apiKey, endpoint }: { apiKey: string; endpoint: string }) => endpoint.length, {
  ...options,
  name: 'call_partner',
});
const length: number = await callPartner({ apiKey: 'k', endpoint: '/v1' });

const add = toolSync((a: number, b: number) => a + b, { name: 'add', params: ['a', 'b'], verb: 'tool_call' });
const sum: number = add(1, 2);

const remove = destructive(async function deleteRecord(id: string): Promise<void> {});
// @ts-expect-error: destructive takes no verb
destructive(async () => {}, { verb: 'tool_call' });

try {
  await step({ workflow: 'run-42', account: 'acme' }, () => remove('r-1'));
} catch (error) {
  if (error instanceof SuspendedError) {
    const pending: string = error.pendingId;
    const value = await resume<number>(pending, { timeoutMs: 60_000 });
    const n: number = value;
    void n;
  } else if (error instanceof BlockedError) {
    const rule: string = error.ruleId;
    void rule;
  }
}

const client = wrap(new OpenAI({ apiKey: 'sk-test' }), { verbs: { send: 'http_request' }, redact: ['metadata'] });
const completion = await client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
const text: string | null | undefined = completion.choices[0]?.message.content;
const gatedFetch: typeof fetch = wrap(fetch);
void gatedFetch;

const verdict: ReceiptReport = verify('receipt.json', { signers: ['did:key:z6Mk...'] });
const level: 'L0' | 'L1' | null = verdict.trust_level;
const pins: readonly PinStatus[] = verdict.signers.map((s) => s.pin);
const valid: boolean = verdict.valid && verdict.pinned && verdict.signers.every((s) => s.key.startsWith('did:key:'));
const decision: 'approved' | 'rejected' | 'escalated' | null = verdict.approver_decision;
const old: Verdict = verdict; // Python's name of the type; the deprecated names of fields:
const oldLevel: 'L0' | 'L1' | null = old.trustLevel;
// @ts-expect-error: a signer has no `decision` any more (the report's approver_decision)
void verdict.signers[0]?.decision;
// @ts-expect-error: the report is read-only
verdict.valid = true;
// @ts-expect-error: verify's options are typed
verify('receipt.json', { signer: 'x' });

const log: LogReport = verifyLog('heso-local-data/receipts.jsonl', { signers: 'did:key:z6Mk...' });
verifyLog(new URL('file:///tmp/receipts.jsonl'));
verifyLog(new Uint8Array());
const broken: number | undefined = log.counts['LinkBroken'];
const firstSeq: number | null | undefined = log.failures[0]?.seq;
const torn: number | undefined = log.torn_tail?.bytes;
const heads: readonly string[] = log.sessions.map((s) => s.head_hash);
const signerPins: readonly PinStatus[] = log.signers.map((s) => s.pin);
// @ts-expect-error: verifyLog's options are typed
verifyLog('receipts.jsonl', { pinned: true });
// @ts-expect-error: a log is a path, a URL or bytes
verifyLog(42);
// @ts-expect-error: the report is read-only
log.all_valid = true;

void [results, length, sum, text, level, pins, valid, decision, oldLevel, heso.version, broken, firstSeq, torn, heads, signerPins];
