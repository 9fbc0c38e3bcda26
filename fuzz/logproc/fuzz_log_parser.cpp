// libFuzzer target: any bytes as a log line must parse without crashing, and what comes out must
// be bounded by the line-length cap and valid enough to publish.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "logproc/log_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace selfheal::logproc;
  static const LogParser parser(ParserOptions{4096, 32, 64});
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  ParsedLine p = parser.parse(line);
  if (p.message.size() > 3 * 4096) std::abort();  // sanitising may grow a byte to U+FFFD, no more
  if (p.attributes.size() > 64) std::abort();
  for (char c : p.message)
    if (c == '\0') std::abort();
  (void)is_continuation_line(line);
  return 0;
}
