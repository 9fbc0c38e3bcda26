// libFuzzer target: a stream of messages (the input split at newlines) through a small miner must
// never crash, keep the template cap, and give each message a template that re-mining finds again;
// the snapshot must restore.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "logproc/template_miner.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace selfheal::logproc;
  MinerOptions o;
  o.max_templates = 16;
  o.max_tokens = 32;
  TemplateMiner miner(o);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const std::size_t nl = in.find('\n');
    const std::string_view msg = in.substr(0, nl);
    const MineResult r = miner.add(msg);
    if (miner.size() > o.max_templates) std::abort();
    if (r.template_id != template_id_of(miner.template_text(r.cluster))) std::abort();
    (void)miner.params(r.cluster, msg);
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  std::stringstream snap;
  miner.snapshot(snap);
  TemplateMiner restored(o);
  std::string error;
  if (!restored.restore(snap, error) && miner.size() > 0) {
    // Templates made only of whitespace-free tokens always restore.
    std::abort();
  }
  return 0;
}
