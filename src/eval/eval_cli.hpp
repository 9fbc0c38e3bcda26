#pragma once

namespace selfheal::eval {

// `selfheal eval --suite DIR [--json] [--seed-offset N] [--no-baseline]`
int eval_main(int argc, char** argv);

}  // namespace selfheal::eval
