// The CommonJS entry point, type-checked the same way: `require('heso')` resolves through
// the package's `exports` to its .d.cts types.
import heso = require('heso');

heso.init();
const lookup = heso.tool(async function lookup(id: string): Promise<{ id: string }> {
  return { id };
});
async function main(): Promise<void> {
  const row: { id: string } = await lookup('a');
  const verdict: heso.ReceiptReport = heso.verify(row);
  const verdictName: string = verdict.verdict;
  const error: heso.HesoError = new heso.GateError('x');
  const log: heso.LogReport = heso.verifyLog(Buffer.from(''));
  const failure: heso.LineFailure | undefined = log.failures[0];
  const tail: heso.TornTail | null = log.torn_tail;
  const head: heso.SessionHead | undefined = log.sessions[0];
  const signer: heso.SignerCount | undefined = log.signers[0];
  void [verdict, verdictName, error, failure, tail, head, signer];
}
void main;
