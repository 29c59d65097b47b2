// Fuzzes the haproxy tokenizer on raw bytes: it must never crash, and every word it returns
// must point inside the input.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "conf/haproxy_lexer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tandem::core::Diagnostics diags;
  // A fixed environment keeps runs reproducible: only A (with blanks, for "${A[*]}") is set.
  tandem::conf::EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "A") return std::string(" x  y ");
    return std::nullopt;
  };
  auto file = std::make_shared<const std::string>("fuzz.cfg");
  auto lines = tandem::conf::lex_haproxy(text, file, diags, env);
  for (const auto& line : lines) {
    if (line.words.empty()) std::abort();
    for (const auto& w : line.words) {
      if (w.where.line == 0 || w.where.column == 0 || w.where.column > size + 1) std::abort();
    }
  }
  for (const auto& d : diags.all()) {
    if (d.where.line == 0 || d.message.empty()) std::abort();
  }
  return 0;
}
