// Fuzzes the readers of server states: any bytes as a state file an operator's script wrote
// (forgiving) and as the master's hand-over (strict), each result applied to a sample view.
// Checks that nothing crashes and that every warning names the file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lb/stats/server_state.h"
#include "sample_view.h"

namespace {

using namespace tandem::lb::stats;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const StatsView view = tandem::lb::stats::testing::sample_view();
  StateFile f = parse_state_file(in, "fuzz.state");
  for (const auto& w : f.warnings) check(w.starts_with("fuzz.state"));
  for (const auto& c : changes_to_restore(view, f.servers)) {
    check(view.find_backend(c.backend) != nullptr);
    check(!c.set_weight || c.weight <= 256);
  }
  if (auto strict = parse_servers_state(in)) (void)changes_to_restore(view, *strict);
  (void)saved_time(in);
  return 0;
}
