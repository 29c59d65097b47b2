#include "conf/keyword_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conf/args.h"
#include "unit/conf/test_util.h"

namespace tandem::conf {
namespace {

using testing::brief;
using ::testing::ElementsAre;

struct Instance {
  std::string name;
  uint64_t priority = 0;
  std::vector<std::string> peers;
};
struct Config {
  std::vector<Instance> instances;
  std::string router_id;
};

// A miniature of what tandem-vrrp builds: a top-level table and a nested one for a block.
class Tables {
 public:
  Tables() {
    instance.add({.name = "priority",
                  .args_doc = "<1-255>",
                  .min_args = 1,
                  .max_args = 1,
                  .handler =
                      [](const Statement& st, Instance& i, core::Diagnostics& d) {
                        if (auto v = parse_uint(st.args[0], 1, 255, d, "priority")) i.priority = *v;
                      },
                  .doc = "Election priority; the highest wins."});
    instance.add({.name = "unicast_peer",
                  .min_args = 0,
                  .max_args = 0,
                  .handler =
                      [](const Statement& st, Instance& i, core::Diagnostics&) {
                        for (const Node& n : st.children()) i.peers.push_back(n.keyword.text);
                      },
                  .doc = "Peers to send adverts to | unicast.",
                  .block = BlockRule::kRequired});
    instance.add_unsupported("lvs_sync_daemon", "IPVS is not part of tandem; use tandem-lb");
    top.add({.name = "router_id",
             .args_doc = "<STRING>",
             .min_args = 1,
             .max_args = 1,
             .handler = [](const Statement& st, Config& c,
                           core::Diagnostics&) { c.router_id = st.args[0].text; },
             .doc = "Names this node in logs."});
    top.add({.name = "vrrp_instance",
             .args_doc = "<NAME>",
             .min_args = 1,
             .max_args = 1,
             .handler =
                 [this](const Statement& st, Config& c, core::Diagnostics& d) {
                   Instance i{st.args[0].text};
                   instance.dispatch_all(st.children(), i, d);
                   c.instances.push_back(std::move(i));
                 },
             .doc = "One virtual router.",
             .block = BlockRule::kRequired,
             .nested = &instance});
  }
  KeywordTable<Instance> instance{"vrrp_instance", "tandem-vrrp"};
  KeywordTable<Config> top{"keepalived.conf", "tandem-vrrp"};
};

struct Run {
  Config config;
  core::Diagnostics diags;
};

Run run(std::string_view text) {
  Run r;
  Tables t;
  IncludeOptions opts;
  opts.follow = false;
  auto nodes = parse_keepalived(text, std::make_shared<const std::string>("k.conf"), r.diags, opts);
  t.top.dispatch_all(nodes, r.config, r.diags);
  return r;
}

TEST(KeywordTable, DispatchesIntoNestedTables) {
  auto r =
      run("router_id lb1\nvrrp_instance V {\n priority 150\n unicast_peer {\n 10.0.0.2\n }\n}\n");
  EXPECT_TRUE(r.diags.empty()) << r.diags.to_string();
  EXPECT_EQ(r.config.router_id, "lb1");
  ASSERT_EQ(r.config.instances.size(), 1u);
  EXPECT_EQ(r.config.instances[0].name, "V");
  EXPECT_EQ(r.config.instances[0].priority, 150u);
  EXPECT_THAT(r.config.instances[0].peers, ElementsAre("10.0.0.2"));
}

TEST(KeywordTable, MisspelledKeywordIsNeverSkipped) {
  auto r = run("vrrp_instance V {\n  unicst_peer {\n    10.0.0.2\n  }\n  Priority 5\n  zzz\n}\n");
  EXPECT_THAT(brief(r.diags),
              ElementsAre("2:3: error: unknown keyword 'unicst_peer' in vrrp_instance",
                          "5:3: error: unknown keyword 'Priority' in vrrp_instance",
                          "6:3: error: unknown keyword 'zzz' in vrrp_instance"));
  EXPECT_EQ(r.diags.all()[0].hint, "did you mean 'unicast_peer'?");
  EXPECT_EQ(r.diags.all()[1].hint, "did you mean 'priority'?");
  EXPECT_EQ(r.diags.all()[2].hint, "");
  EXPECT_TRUE(r.config.instances[0].peers.empty());
}

TEST(KeywordTable, UnsupportedKeyword) {
  auto r = run("vrrp_instance V {\n  lvs_sync_daemon eth0\n}\n");
  EXPECT_THAT(brief(r.diags),
              ElementsAre("2:3: error: 'lvs_sync_daemon' is not supported by tandem-vrrp"));
  EXPECT_EQ(r.diags.all()[0].hint, "IPVS is not part of tandem; use tandem-lb");
}

TEST(KeywordTable, ArgumentCountsAndBlocks) {
  auto r =
      run("vrrp_instance {\n}\n"
          "vrrp_instance V {\n priority\n priority 1 2\n priority 300\n priority 9 {\n }\n"
          " unicast_peer\n}\n"
          "router_id x\n");
  EXPECT_THAT(brief(r.diags),
              ElementsAre("1:1: error: 'vrrp_instance' takes 1 argument, got 0",
                          "4:2: error: 'priority' takes 1 argument, got 0",
                          "5:2: error: 'priority' takes 1 argument, got 2 (unexpected '2')",
                          "6:11: error: priority 300 is out of range",
                          "7:13: error: 'priority' takes no block",
                          "9:2: error: 'unicast_peer' needs a block: '{ ... }'"));
  EXPECT_EQ(r.diags.all()[0].hint, "usage: vrrp_instance <NAME> { ... }");
  EXPECT_EQ(r.diags.all()[1].hint, "usage: priority <1-255>");
  EXPECT_EQ(r.diags.all()[3].hint, "expected a whole number from 1 to 255");
  EXPECT_EQ(r.config.router_id, "x");  // errors never stop the rest
}

TEST(KeywordTable, DispatchResults) {
  Tables t;
  Instance i;
  core::Diagnostics d;
  Node n;
  n.keyword.text = "priority";
  n.args.push_back(Word{"7", {}, false});
  EXPECT_EQ(t.instance.dispatch(n, i, d), DispatchResult::kHandled);
  n.keyword.text = "lvs_sync_daemon";
  EXPECT_EQ(t.instance.dispatch(n, i, d), DispatchResult::kUnsupported);
  n.keyword.text = "nope";
  EXPECT_EQ(t.instance.dispatch(n, i, d), DispatchResult::kUnknown);
  n.keyword.text = "unicast_peer";
  EXPECT_EQ(t.instance.dispatch(n, i, d), DispatchResult::kWrongArgCount);
  n.args.clear();
  EXPECT_EQ(t.instance.dispatch(n, i, d), DispatchResult::kWrongBlock);
  EXPECT_EQ(i.priority, 7u);
}

TEST(KeywordTable, Suggestions) {
  Tables t;
  EXPECT_EQ(t.instance.suggest("unicast_pere"), "unicast_peer");  // a swap counts as one
  EXPECT_EQ(t.instance.suggest("prio"), std::nullopt);
  EXPECT_EQ(t.instance.suggest("lvs_sync_deamon"), "lvs_sync_daemon");
}

TEST(KeywordTable, DuplicateNamesAreAProgrammingError) {
  KeywordTable<int> table{"x", "tandem"};
  auto h = [](const Statement&, int&, core::Diagnostics&) {};
  table.add({.name = "a", .handler = h});
  EXPECT_THROW(table.add({.name = "a", .handler = h}), std::logic_error);
  EXPECT_THROW(table.add({.name = "b"}), std::logic_error);
}

TEST(KeywordTable, HaproxyLinesAndMultiWordKeywords) {
  struct Proxy {
    std::map<std::string, std::chrono::microseconds> timeouts;
    std::string mode;
  };
  KeywordTable<Proxy> timeouts{"'timeout'", "tandem-lb"};
  for (const char* name : {"connect", "client", "server"}) {
    timeouts.add({.name = name,
                  .args_doc = "<TIME>",
                  .min_args = 1,
                  .max_args = 1,
                  .handler =
                      [](const Statement& st, Proxy& p, core::Diagnostics& d) {
                        if (auto v = parse_haproxy_time(st.args[0], d, "timeout")) {
                          p.timeouts[st.keyword->text] = *v;
                        }
                      },
                  .doc = "A timeout."});
  }
  timeouts.add_unsupported("tarpit", "tarpitting is not implemented");
  KeywordTable<Proxy> section{"'defaults' section", "tandem-lb"};
  section.add(
      {.name = "timeout",
       .args_doc = "<NAME> <TIME>",
       .min_args = 2,
       .max_args = 2,
       .handler = [&timeouts](const Statement& st, Proxy& p,
                              core::Diagnostics& d) { timeouts.dispatch(st.shifted(), p, d); },
       .doc = "Sets a timeout.",
       .nested = &timeouts});
  section.add({.name = "mode",
               .args_doc = "tcp|http",
               .min_args = 1,
               .max_args = 1,
               .handler = [](const Statement& st, Proxy& p,
                             core::Diagnostics&) { p.mode = st.args[0].text; },
               .doc = "Proxy mode."});
  core::Diagnostics diags;
  auto lines = lex_haproxy(
      "mode http\ntimeout connect 5s\ntimeout conect 1\ntimeout tarpit 1s\n"
      "timeout client 10x\n",
      std::make_shared<const std::string>("h.cfg"), diags);
  Proxy p;
  for (const Line& l : lines) section.dispatch(l, p, diags);
  EXPECT_EQ(p.mode, "http");
  EXPECT_EQ(p.timeouts.at("connect"), std::chrono::seconds(5));
  EXPECT_THAT(brief(diags), ElementsAre("3:9: error: unknown keyword 'conect' in 'timeout'",
                                        "4:9: error: 'tarpit' is not supported by tandem-lb",
                                        "5:16: error: unknown time unit 'x' in timeout '10x'"));
  EXPECT_EQ(diags.all()[0].hint, "did you mean 'connect'?");

  EXPECT_EQ(section.markdown(2),
            "## 'defaults' section\n\n"
            "| keyword | arguments | description |\n|---|---|---|\n"
            "| `timeout` | `<NAME> <TIME>` | Sets a timeout. |\n"
            "| `mode` | `tcp\\|http` | Proxy mode. |\n\n"
            "### 'timeout'\n\n"
            "| keyword | arguments | description |\n|---|---|---|\n"
            "| `connect` | `<TIME>` | A timeout. |\n"
            "| `client` | `<TIME>` | A timeout. |\n"
            "| `server` | `<TIME>` | A timeout. |\n\n"
            "Not supported by tandem-lb:\n\n| keyword | why |\n|---|---|\n"
            "| `tarpit` | tarpitting is not implemented |\n\n");
}

TEST(KeywordTable, MarkdownOfBlockTables) {
  Tables t;
  std::string md = t.top.markdown();
  EXPECT_THAT(
      md, ::testing::HasSubstr("| `vrrp_instance` | `<NAME> { ... }` | One virtual router. |\n"));
  EXPECT_THAT(md, ::testing::HasSubstr("\n#### vrrp_instance\n"));
  EXPECT_THAT(md, ::testing::HasSubstr(
                      "| `unicast_peer` | `{ ... }` | Peers to send adverts to \\| unicast. |\n"));
  EXPECT_THAT(md, ::testing::HasSubstr("| `lvs_sync_daemon` | IPVS is not part of tandem; use "
                                       "tandem-lb |\n"));
}

Word w(std::string text) {
  return Word{std::move(text), core::SourceLocation{nullptr, 3, 7}, false};
}

TEST(Args, UnsignedIntegers) {
  core::Diagnostics d;
  EXPECT_EQ(parse_uint(w("42"), 0, 100, d, "weight"), 42u);
  EXPECT_EQ(parse_uint(w("0"), 0, 100, d, "weight"), 0u);
  EXPECT_FALSE(parse_uint(w("101"), 0, 100, d, "weight"));
  EXPECT_FALSE(parse_uint(w("-1"), 0, 100, d, "weight"));
  EXPECT_FALSE(parse_uint(w(""), 0, 100, d, "weight"));
  EXPECT_FALSE(parse_uint(w("99999999999999999999999"), 0, 100, d, "weight"));
  EXPECT_FALSE(parse_uint(w("1e3"), 0, 100, d, "weight"));
  EXPECT_THAT(brief(d),
              ElementsAre("3:7: error: weight 101 is out of range",
                          "3:7: error: invalid weight '-1'", "3:7: error: invalid weight ''",
                          "3:7: error: weight '99999999999999999999999' is out of range",
                          "3:7: error: invalid weight '1e3'"));
}

TEST(Args, SignedIntegers) {
  core::Diagnostics d;
  EXPECT_EQ(parse_int(w("-254"), -254, 254, d, "weight"), -254);
  EXPECT_EQ(parse_int(w("+3"), -254, 254, d, "weight"), 3);
  EXPECT_EQ(parse_int(w("-9223372036854775808"), INT64_MIN, INT64_MAX, d, "x"), INT64_MIN);
  EXPECT_FALSE(parse_int(w("-9223372036854775809"), INT64_MIN, INT64_MAX, d, "x"));
  EXPECT_FALSE(parse_int(w("-255"), -254, 254, d, "weight"));
  EXPECT_FALSE(parse_int(w("-"), -254, 254, d, "weight"));
  EXPECT_EQ(d.error_count(), 3u);
}

TEST(Args, HaproxyTimes) {
  core::Diagnostics d;
  using std::chrono::microseconds;
  EXPECT_EQ(parse_haproxy_time(w("100ms"), d, "t"), microseconds(100000));
  EXPECT_EQ(parse_haproxy_time(w("2s"), d, "t"), microseconds(2000000));
  EXPECT_EQ(parse_haproxy_time(w("1m"), d, "t"), microseconds(60000000));
  EXPECT_EQ(parse_haproxy_time(w("1h"), d, "t"), microseconds(3600000000LL));
  EXPECT_EQ(parse_haproxy_time(w("1d"), d, "t"), microseconds(86400000000LL));
  EXPECT_EQ(parse_haproxy_time(w("5us"), d, "t"), microseconds(5));
  EXPECT_EQ(parse_haproxy_time(w("250"), d, "t"), microseconds(250000));
  EXPECT_EQ(parse_haproxy_time(w("3"), d, "t", TimeUnit::kSeconds), microseconds(3000000));
  EXPECT_TRUE(d.empty());
  EXPECT_FALSE(parse_haproxy_time(w("1.5s"), d, "t"));
  EXPECT_FALSE(parse_haproxy_time(w("s"), d, "t"));
  EXPECT_FALSE(parse_haproxy_time(w("10y"), d, "t"));
  EXPECT_FALSE(parse_haproxy_time(w("25d"), d, "t"));
  EXPECT_FALSE(parse_haproxy_time(w("99999999999999999999999ms"), d, "t"));
  EXPECT_EQ(d.error_count(), 5u);
}

TEST(Args, KeepalivedSeconds) {
  core::Diagnostics d;
  using std::chrono::microseconds;
  EXPECT_EQ(parse_keepalived_seconds(w("1"), d, "advert_int"), microseconds(1000000));
  EXPECT_EQ(parse_keepalived_seconds(w("0.1"), d, "advert_int"), microseconds(100000));
  EXPECT_EQ(parse_keepalived_seconds(w(".05"), d, "advert_int"), microseconds(50000));
  EXPECT_EQ(parse_keepalived_seconds(w("2.718281"), d, "advert_int"), microseconds(2718281));
  EXPECT_EQ(parse_keepalived_seconds(w("3."), d, "advert_int"), microseconds(3000000));
  EXPECT_TRUE(d.empty());
  EXPECT_FALSE(parse_keepalived_seconds(w("1.0000001"), d, "advert_int"));
  EXPECT_FALSE(parse_keepalived_seconds(w("-1"), d, "advert_int"));
  EXPECT_FALSE(parse_keepalived_seconds(w("."), d, "advert_int"));
  EXPECT_FALSE(parse_keepalived_seconds(w("1s"), d, "advert_int"));
  EXPECT_EQ(d.error_count(), 4u);
}

TEST(Args, Booleans) {
  core::Diagnostics d;
  for (const char* t : {"on", "true", "yes"}) EXPECT_EQ(parse_bool(w(t), d, "x"), true);
  for (const char* f : {"off", "false", "no"}) EXPECT_EQ(parse_bool(w(f), d, "x"), false);
  EXPECT_FALSE(parse_bool(w("maybe"), d, "smtp_alert"));
  EXPECT_THAT(brief(d), ElementsAre("3:7: error: invalid smtp_alert 'maybe'"));
}

}  // namespace
}  // namespace tandem::conf
