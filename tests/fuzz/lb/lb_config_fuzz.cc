// Fuzzes the haproxy.cfg grammar: any bytes through the tokenizer, the conditional blocks and
// build_config must end in diagnostics, never in a crash, a hang or a leak.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "conf/haproxy_lexer.h"
#include "core/diagnostic.h"
#include "lb/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  static const auto file = std::make_shared<const std::string>("fuzz.cfg");
  // A fixed environment: the result must not depend on the machine.
  tandem::conf::EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "SET") return std::string("1");
    if (name == "WORDS") return std::string("a b");
    return std::nullopt;
  };
  tandem::core::Diagnostics diags;
  auto lines = tandem::conf::lex_haproxy(text, file, diags, env);
  auto cfg = tandem::lb::build_config(lines, diags, env);
  (void)diags.to_string();
  (void)tandem::lb::eval_condition(text.substr(0, 256), env);
  return 0;
}
