// Fuzzes the HTTP/1 framer: any bytes, split at points drawn from the input, through the
// request and the response parser; checks consumption and that an error is final.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lb/http1.h"

namespace {

using tandem::lb::http1::Mode;
using tandem::lb::http1::Parser;
using tandem::lb::http1::Progress;

void check(bool ok) {
  if (!ok) std::abort();
}

void drive(Mode mode, std::string_view data, uint8_t seed) {
  tandem::lb::http1::Limits limits;
  limits.max_head_size = 2048;  // small limits reach the limit paths quickly
  limits.max_headers = 16;
  tandem::lb::http1::RejectCounters counters;
  Parser p(mode, limits, &counters);
  if (mode == Mode::kResponse) p.expect_response_to((seed & 1) ? "HEAD" : "GET");
  size_t at = 0;
  size_t pending_from = 0;  // unconsumed bytes are fed again with the next piece
  uint32_t state = seed | 1u;
  while (at < data.size()) {
    state = state * 1103515245u + 12345u;
    size_t n = 1 + (state >> 16) % 64;
    at = at + n < data.size() ? at + n : data.size();
    for (int rounds = 0; rounds < 64 && pending_from < at; ++rounds) {
      std::string_view piece = data.substr(pending_from, at - pending_from);
      bool was_error = p.state() == Parser::State::kError;
      Progress pr = p.feed(piece);
      check(pr.consumed <= piece.size());
      size_t body = 0;
      for (std::string_view b : pr.body) {
        check(b.data() >= piece.data() && b.data() + b.size() <= piece.data() + piece.size());
        body += b.size();
      }
      check(body <= pr.consumed);
      if (was_error) check(pr.consumed == 0 && pr.failed() && !pr.head_complete);
      if (pr.failed()) check(counters.total() == 1 && p.state() == Parser::State::kError);
      pending_from += pr.consumed;
      if (pr.consumed == 0) break;
    }
    if (p.state() == Parser::State::kUpgradePending && (seed & 2)) p.upgrade_refused();
  }
  Progress end = p.finish();
  check(end.consumed == 0);
  check(counters.total() <= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  drive(Mode::kRequest, text, data[0]);
  drive(Mode::kResponse, text, data[0]);
  return 0;
}
