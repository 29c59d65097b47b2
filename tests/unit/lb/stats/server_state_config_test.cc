// The server state keywords of haproxy.cfg: server-state-base, server-state-file,
// load-server-state-from-file and server-state-file-name, and the file each backend reads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lb/config.h"
#include "lb/stats/server_state.h"
#include "unit/conf/test_util.h"

namespace tandem::lb {
namespace {

using conf::testing::brief;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

struct Parsed {
  Config cfg;
  core::Diagnostics diags;
  std::vector<std::string> lines() const { return brief(diags); }
  const Proxy& backend(std::string_view name) const { return *cfg.find_backend(name); }
};

Parsed run(std::string_view text) {
  Parsed r;
  auto lines = conf::lex_haproxy(text, std::make_shared<const std::string>("h.cfg"), r.diags, {});
  r.cfg = build_config(lines, r.diags, {});
  return r;
}

constexpr std::string_view kTimeouts =
    " timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

TEST(ServerStateConfig, GlobalFileAndDefaultsInherit) {
  Parsed r = run(std::string("global\n server-state-base /var/lib/haproxy\n"
                             " server-state-file state\n"
                             "defaults\n load-server-state-from-file global\n") +
                 std::string(kTimeouts) +
                 "backend a\n server s1 127.0.0.1:80\n"
                 "backend b\n load-server-state-from-file none\n server s1 127.0.0.1:80\n"
                 "listen c\n bind 127.0.0.1:8000\n load-server-state-from-file local\n"
                 " server s1 127.0.0.1:80\n");
  ASSERT_THAT(r.lines(), IsEmpty());
  EXPECT_EQ(r.cfg.global.server_state_base, "/var/lib/haproxy");
  EXPECT_EQ(r.cfg.global.server_state_file, "state");
  EXPECT_EQ(r.backend("a").load_server_state, Proxy::ServerStateFrom::kGlobal);
  EXPECT_EQ(r.backend("b").load_server_state, Proxy::ServerStateFrom::kNone);
  EXPECT_EQ(r.backend("c").load_server_state, Proxy::ServerStateFrom::kLocal);
  // Relative names are taken in server-state-base; local defaults to the backend's name.
  EXPECT_EQ(stats::state_file_path(r.cfg.global, r.backend("a")), "/var/lib/haproxy/state");
  EXPECT_EQ(stats::state_file_path(r.cfg.global, r.backend("b")), "");
  EXPECT_EQ(stats::state_file_path(r.cfg.global, r.backend("c")), "/var/lib/haproxy/c");
}

TEST(ServerStateConfig, FileNames) {
  Parsed r = run(std::string("global\n server-state-base /base/\n server-state-file /abs/state\n"
                             "defaults\n load-server-state-from-file local\n") +
                 std::string(kTimeouts) +
                 "backend named\n server-state-file-name mine.state\n server s1 127.0.0.1:80\n"
                 "backend absolute\n server-state-file-name /etc/x.state\n server s1 127.0.0.1:80\n"
                 "backend own\n server-state-file-name use-backend-name\n server s1 127.0.0.1:80\n"
                 "backend bare\n server-state-file-name\n server s1 127.0.0.1:80\n"
                 "backend global\n load-server-state-from-file global\n"
                 " server-state-file-name ignored\n server s1 127.0.0.1:80\n");
  ASSERT_THAT(r.lines(), IsEmpty());
  const Global& g = r.cfg.global;
  EXPECT_EQ(stats::state_file_path(g, r.backend("named")), "/base/mine.state");
  EXPECT_EQ(stats::state_file_path(g, r.backend("absolute")), "/etc/x.state");
  EXPECT_EQ(stats::state_file_path(g, r.backend("own")), "/base/own");
  EXPECT_EQ(stats::state_file_path(g, r.backend("bare")), "/base/bare");
  // An absolute global file ignores the base; server-state-file-name only matters for local.
  EXPECT_EQ(stats::state_file_path(g, r.backend("global")), "/abs/state");
}

TEST(ServerStateConfig, NoBaseMeansTheCurrentFolder) {
  Parsed r = run(std::string("global\n server-state-file state\n"
                             "defaults\n load-server-state-from-file global\n") +
                 std::string(kTimeouts) + "backend a\n server s1 127.0.0.1:80\n");
  ASSERT_THAT(r.lines(), IsEmpty());
  EXPECT_EQ(stats::state_file_path(r.cfg.global, r.backend("a")), "state");
}

TEST(ServerStateConfig, BadValuesNameTheirPlace) {
  Parsed r = run(std::string("global\n server-state-file\n server-state-base \"\"\n"
                             "defaults\n") +
                 std::string(kTimeouts) +
                 "backend a\n load-server-state-from-file globl\n server s1 127.0.0.1:80\n"
                 "backend b\n load-server-state-from-file global local\n"
                 " server-state-file-name a b\n server s1 127.0.0.1:80\n"
                 "frontend f\n bind 127.0.0.1:8000\n load-server-state-from-file global\n"
                 " default_backend a\n");
  EXPECT_THAT(r.lines(),
              ElementsAre("2:2: error: 'server-state-file' takes 1 argument, got 0",
                          "3:20: error: 'server-state-base' needs a non-empty path",
                          "9:30: error: unknown load-server-state-from-file mode 'globl'",
                          "12:2: error: 'load-server-state-from-file' takes 1 argument, got 2 "
                          "(unexpected 'local')",
                          "13:2: error: 'server-state-file-name' takes at most 1 argument, got 2 "
                          "(unexpected 'b')",
                          "17:2: error: 'load-server-state-from-file' is not allowed in a "
                          "frontend section"));
}

TEST(ServerStateConfig, GlobalModeWithoutAGlobalFileWarnsOncePerLine) {
  Parsed r =
      run(std::string("defaults\n load-server-state-from-file global\n") + std::string(kTimeouts) +
          "backend a\n server s1 127.0.0.1:80\nbackend b\n server s1 127.0.0.1:80\n");
  EXPECT_THAT(r.lines(),
              ElementsAre("2:2: warning: backend 'a' loads server states from the global file, "
                          "but no 'server-state-file' is set in the global section"));
}

TEST(ServerStateConfig, GivenTwiceWarns) {
  Parsed r = run("global\n server-state-file a\n server-state-file b\n");
  EXPECT_THAT(r.lines(),
              ElementsAre("3:2: warning: 'server-state-file' given twice; the last one is used"));
  EXPECT_EQ(r.cfg.global.server_state_file, "b");
}

}  // namespace
}  // namespace tandem::lb
