// Fuzzes the HTTP/1 framer: any bytes, split at points drawn from the input, through the
// request and the response parser; checks consumption and that an error is final, and that
// the pieces give the same heads, bodies and outcome as the whole input fed at once (the
// lexer takes whole lines in one step and the rest byte by byte).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lb/http1.h"

namespace {

using tandem::lb::http1::Mode;
using tandem::lb::http1::Parser;
using tandem::lb::http1::Progress;

void check(bool ok) {
  if (!ok) std::abort();
}

// What a feed told, in a form two runs can compare.
void describe(std::string& out, const Parser& p, const Progress& pr) {
  if (pr.head_complete) {
    const tandem::lb::http1::Head& h = p.head();
    out += "|head " + h.method + " " + h.target + " " + std::to_string(h.status) + " " + h.reason +
           "|";
    for (const auto& f : h.headers) out += f.name + ":" + f.value + "|";
  }
  for (std::string_view b : pr.body) out.append(b);
  if (pr.message_complete) out += "|end|";
  if (pr.failed()) out += "|error " + std::to_string(static_cast<int>(pr.error)) + "|";
}

// Feeds `data` in pieces whose sizes come from `seed` (0: all at once); returns the story.
std::string drive(Mode mode, std::string_view data, uint8_t seed, bool whole) {
  tandem::lb::http1::Limits limits;
  limits.max_head_size = 2048;  // small limits reach the limit paths quickly
  limits.max_headers = 16;
  tandem::lb::http1::RejectCounters counters;
  Parser p(mode, limits, &counters);
  if (mode == Mode::kResponse) p.expect_response_to((seed & 1) ? "HEAD" : "GET");
  std::string story;
  size_t at = 0;
  size_t pending_from = 0;  // unconsumed bytes are fed again with the next piece
  uint32_t state = seed | 1u;
  while (at < data.size()) {
    state = state * 1103515245u + 12345u;
    size_t n = whole ? data.size() : 1 + (state >> 16) % 64;
    at = at + n < data.size() ? at + n : data.size();
    for (int rounds = 0; rounds < 4096 && pending_from < at; ++rounds) {
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
      if (!was_error) describe(story, p, pr);  // an error is told once, when it comes
      if (was_error) check(pr.consumed == 0 && pr.failed() && !pr.head_complete);
      if (pr.failed()) check(counters.total() == 1 && p.state() == Parser::State::kError);
      pending_from += pr.consumed;
      if (p.state() == Parser::State::kUpgradePending && (seed & 2)) {
        p.upgrade_refused();
        continue;
      }
      if (pr.consumed == 0) break;
    }
  }
  const bool failed_before = p.state() == Parser::State::kError;
  Progress end = p.finish();
  check(end.consumed == 0);
  check(counters.total() <= 1);
  if (!failed_before) describe(story, p, end);
  return story;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (Mode mode : {Mode::kRequest, Mode::kResponse}) {
    std::string a = drive(mode, text, data[0], false), b = drive(mode, text, data[0], true);
    if (a != b) fprintf(stderr, "PIECES %s\nWHOLE  %s\n", a.c_str(), b.c_str());
    check(a == b);
  }
  return 0;
}
