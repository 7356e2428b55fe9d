import { runCommand } from './exec';
import { AGENT_VERSION } from './version';
runCommand(['echo', AGENT_VERSION], (s, t) => console.log(s, t)).then((r) => console.log(r.exitCode));
