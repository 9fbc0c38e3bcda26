// `selfheal logparse --data DIR [--json] [--out DIR]`: the loghub-2k template-mining benchmark.
#pragma once

namespace selfheal::logproc {

// argv[0] is "logparse". Returns the process exit code: 0 ok, 2 bad arguments or unreadable data.
int logparse_main(int argc, char** argv);

}  // namespace selfheal::logproc
