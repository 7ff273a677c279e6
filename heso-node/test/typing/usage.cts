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
  void [verdict, verdictName, error];
}
void main;
