// Fuzzes the runtime API and the stats page's request parsing: any bytes as CLI lines at any
// level against a view that the commands change, and as stats URIs, Authorization values and
// admin POST bodies. Checks that every answer is complete and that nothing crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lb/stats/admin_api.h"
#include "lb/stats/page.h"
#include "sample_view.h"

namespace {

using namespace tandem::lb::stats;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Level level = static_cast<Level>(data[0] % 3);
  tandem::lb::stats::testing::FakeTarget target(tandem::lb::stats::testing::sample_view());

  CliSession session(target, level);
  size_t start = 0;
  while (start <= in.size()) {
    size_t nl = in.find('\n', start);
    if (nl == std::string_view::npos) nl = in.size();
    const auto reply = session.handle_line(in.substr(start, nl - start));
    // Each answer ends with its empty line, or with the prompt in interactive mode.
    check(reply.text.empty() || reply.text.ends_with("\n") || reply.text.ends_with("> "));
    check(session.level() <= level);
    if (reply.close) break;
    start = nl + 1;
  }

  tandem::lb::StatsPage config;
  config.uri = "/stats";
  config.auth = {{"u", "p"}};
  (void)match_stats_uri(in, "/stats");
  (void)check_basic_auth(in, config.auth);
  const AdminPost post = parse_admin_post(in);
  check(post.servers.size() <= in.size());
  const auto reply = serve_stats_page(config,
                                      {.method = "POST",
                                       .target = "/stats",
                                       .authorization = "Basic dTpw",
                                       .body = in,
                                       .admin_allowed = (data[0] & 4) != 0},
                                      target.view(), &target);
  check(reply.status == 303);
  return 0;
}
