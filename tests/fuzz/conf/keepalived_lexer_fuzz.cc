// Fuzzes the keepalived parser on raw bytes with includes refused, so fuzzing never reads
// files: it must never crash, and every node must point inside the input.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "conf/keepalived_lexer.h"

namespace {

void check(const std::vector<tandem::conf::Node>& nodes, size_t size, int depth) {
  if (depth > 100000) std::abort();
  for (const auto& n : nodes) {
    if (n.where.line == 0 || n.where.column == 0 || n.where.column > size + 1) std::abort();
    if (!n.has_block && !n.children.empty()) std::abort();
    check(n.children, size, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  tandem::core::Diagnostics diags;
  tandem::conf::IncludeOptions opts;
  opts.follow = false;
  opts.instance = "fuzz";
  opts.base_dir = "/nonexistent";
  auto nodes = tandem::conf::parse_keepalived(
      text, std::make_shared<const std::string>("fuzz.conf"), diags, opts);
  check(nodes, size, 0);
  for (const auto& d : diags.all()) {
    if (d.where.line == 0 || d.message.empty()) std::abort();
  }
  return 0;
}
