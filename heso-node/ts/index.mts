/** The ES module entry point: the same module as the CommonJS one (one state, one project). */

export {
  ApprovalError,
  BlockedError,
  ConfigError,
  DEFAULT_VERBS,
  destructive,
  destructiveSync,
  GateError,
  HesoError,
  init,
  resume,
  runCli,
  step,
  SuspendedError,
  tool,
  toolSync,
  VERBS,
  verify,
  version,
  wrap,
} from './index.cjs';
export type {
  BlockedDetails,
  Gated,
  GatedSync,
  PinStatus,
  ReceiptInput,
  ReceiptReport,
  RedactMode,
  ResumeOptions,
  Signer,
  StepScope,
  SuspendedDetails,
  ToolOptions,
  Verb,
  Verdict,
  VerifyOptions,
  WrapOptions,
} from './index.cjs';

import * as heso from './index.cjs';
export default heso;
