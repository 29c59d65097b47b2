#include "lb/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "doc_check.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "unit/conf/test_util.h"

namespace tandem::lb {
namespace {

using conf::testing::brief;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

using tandem::testing::source_root;

struct Run {
  Config cfg;
  core::Diagnostics diags;
  std::vector<std::string> lines() const { return brief(diags); }
  std::string hint(size_t i) const { return diags.all().at(i).hint; }
};

conf::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](std::string_view n) -> std::optional<std::string> {
    auto it = vars.find(std::string(n));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Run run(std::string_view text, std::map<std::string, std::string> vars = {}) {
  Run r;
  auto env = env_of(vars);
  auto lines = conf::lex_haproxy(text, std::make_shared<const std::string>("h.cfg"), r.diags, env);
  r.cfg = build_config(lines, r.diags, env);
  return r;
}

// Timeouts and a backend so that a test's own lines are the only source of diagnostics.
constexpr std::string_view kBase =
    "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n";

std::string with_base(std::string_view body) {
  return std::string(kBase) + std::string(body);
}

// ---------------------------------------------------------------------------------------------

TEST(LbConfig, ClassicExampleParsesWithExactValues) {
  core::Diagnostics diags;
  Config c = load_config({(source_root() / "examples/classic/haproxy.cfg").string()}, diags);
  ASSERT_TRUE(diags.empty()) << diags.to_string();
  EXPECT_EQ(c.global.maxconn, 4096u);
  EXPECT_TRUE(c.global.daemon);
  ASSERT_EQ(c.global.logs.size(), 1u);
  EXPECT_EQ(c.global.logs[0].kind, LogTarget::Kind::kUnix);
  EXPECT_EQ(c.global.logs[0].path, "/dev/log");
  EXPECT_EQ(c.global.logs[0].facility, "local0");
  ASSERT_EQ(c.defaults.size(), 1u);
  ASSERT_EQ(c.proxies.size(), 2u);
  const Proxy& fe = c.proxies[0];
  EXPECT_EQ(fe.kind, Proxy::Kind::kFrontend);
  EXPECT_EQ(fe.name, "http_front");
  EXPECT_EQ(fe.mode, Mode::kHttp);
  EXPECT_TRUE(fe.httplog);
  EXPECT_TRUE(fe.dontlognull);
  EXPECT_TRUE(fe.log_global);
  EXPECT_EQ(fe.timeouts.connect, seconds(5));
  EXPECT_EQ(fe.timeouts.client, seconds(50));
  EXPECT_EQ(fe.timeouts.server, seconds(50));
  ASSERT_EQ(fe.binds.size(), 1u);
  EXPECT_TRUE(fe.binds[0].address.wildcard);
  EXPECT_EQ(fe.binds[0].address.port_first, 80);
  EXPECT_EQ(fe.default_backend, "http_back");
  const Proxy& be = c.proxies[1];
  EXPECT_EQ(be.name, "http_back");
  EXPECT_EQ(be.balance.algorithm, Balance::Algorithm::kRoundRobin);
  EXPECT_TRUE(be.http_check.enabled);
  EXPECT_EQ(be.http_check.method, "GET");
  EXPECT_EQ(be.http_check.uri, "/");
  ASSERT_EQ(be.servers.size(), 5u);
  EXPECT_EQ(be.servers[4].name, "web5");
  EXPECT_EQ(be.servers[4].address.host, "198.18.1.5");
  EXPECT_EQ(be.servers[4].address.port_first, 80);
  EXPECT_TRUE(be.servers[4].params.check);
  EXPECT_EQ(be.servers[4].params.inter, milliseconds(2000));
  EXPECT_EQ(be.servers[4].params.fastinter, milliseconds(2000));
  EXPECT_EQ(be.servers[4].params.rise, 2u);
  EXPECT_EQ(be.servers[4].params.fall, 3u);
  EXPECT_EQ(c.find_backend("http_back"), &be);
}

// Every file under testdata passed `haproxy -c -f FILE` (2.6.12) when it was written.
TEST(LbConfig, TestdataConfigsParseWithoutErrors) {
  int count = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(source_root() / "tests/unit/lb/testdata")) {
    if (e.path().extension() != ".cfg") continue;
    ++count;
    core::Diagnostics diags;
    load_config({e.path().string()}, diags, env_of({}));
    for (const auto& d : diags.all()) {
      // 09-conditional.cfg prints a .notice on purpose; nothing else may say anything.
      EXPECT_EQ(d.severity, core::Severity::kNote) << e.path() << ": " << d.to_string();
    }
  }
  EXPECT_EQ(count, 10);
}

TEST(LbConfig, TestdataValues) {
  core::Diagnostics diags;
  auto dir = source_root() / "tests/unit/lb/testdata";
  Config c = load_config({(dir / "03-balancing.cfg").string()}, diags);
  ASSERT_FALSE(diags.has_errors()) << diags.to_string();
  const Proxy* uri = c.find_backend("by_uri");
  ASSERT_NE(uri, nullptr);
  EXPECT_EQ(uri->balance.algorithm, Balance::Algorithm::kUri);
  EXPECT_EQ(uri->balance.uri_depth, 2u);
  EXPECT_EQ(uri->hash_type.method, HashType::Method::kConsistent);
  EXPECT_TRUE(uri->hash_type.avalanche);
  const Proxy* hdr = c.find_backend("by_hdr");
  EXPECT_EQ(hdr->balance.hdr_name, "X-User");
  EXPECT_TRUE(hdr->balance.use_domain_only);
  EXPECT_EQ(c.find_backend("by_source")->hash_type.function, HashType::Function::kDjb2);
  EXPECT_EQ(c.find_backend("rnd")->balance.random_draws, 3u);
  EXPECT_EQ(c.find_backend("rnd")->servers[1].params.weight, 20u);
  EXPECT_TRUE(c.find_backend("static")->servers[1].params.backup);
  const Proxy* f = c.find_frontend("f");
  ASSERT_EQ(f->use_backends.size(), 5u);
  EXPECT_EQ(f->use_backends[0].backend, "by_uri");
  ASSERT_TRUE(f->use_backends[0].condition);
  EXPECT_EQ(f->use_backends[0].condition->words.size(), 4u);  // { path_beg /u }

  diags = {};
  c = load_config({(dir / "04-checks.cfg").string()}, diags);
  ASSERT_FALSE(diags.has_errors()) << diags.to_string();
  const Proxy* old = c.find_backend("old_style");
  EXPECT_EQ(old->http_check.version, "HTTP/1.1");
  ASSERT_TRUE(old->http_check.expect);
  EXPECT_EQ(old->http_check.expect->pattern, "200");
  EXPECT_EQ(old->servers[0].params.inter, seconds(1));
  EXPECT_EQ(old->servers[0].params.fastinter, milliseconds(500));
  EXPECT_EQ(old->servers[0].params.downinter, seconds(5));
  EXPECT_EQ(old->servers[0].params.rise, 3u);
  EXPECT_EQ(old->servers[1].params.check_port, 8080);
  EXPECT_EQ(old->servers[2].params.check_addr, "198.18.7.33");
  EXPECT_TRUE(old->servers[2].params.disabled);
  EXPECT_EQ(old->timeouts.check, seconds(1));
  const Proxy* nw = c.find_backend("new_style");
  EXPECT_EQ(nw->http_check.uri, "/ready");
  EXPECT_THAT(nw->http_check.headers,
              ElementsAre(std::pair<std::string, std::string>("Host", "app.example.test")));
  EXPECT_TRUE(nw->http_check.expect->negate);
  EXPECT_EQ(nw->http_check.expect->kind, HttpCheck::Expect::Kind::kRstring);
  EXPECT_EQ(nw->servers[0].params.slowstart, seconds(30));

  diags = {};
  c = load_config({(dir / "08-stats.cfg").string()}, diags);
  ASSERT_FALSE(diags.has_errors()) << diags.to_string();
  ASSERT_EQ(c.global.stats_sockets.size(), 1u);
  EXPECT_EQ(c.global.stats_sockets[0].mode, 0600u);
  EXPECT_EQ(c.global.stats_sockets[0].level, "admin");
  EXPECT_EQ(c.global.stats_timeout, seconds(30));
  const Proxy* st = c.find_frontend("stats");
  EXPECT_TRUE(st->stats.enabled);
  EXPECT_EQ(st->stats.uri, "/stats");
  EXPECT_EQ(st->stats.refresh, seconds(10));
  ASSERT_EQ(st->stats.auth.size(), 1u);
  EXPECT_EQ(st->stats.auth[0].second, "secret");
  EXPECT_TRUE(st->stats.admin);
  ASSERT_EQ(st->http_request.size(), 1u);
  EXPECT_EQ(st->http_request[0].action, HttpRule::Action::kUseService);
}

TEST(LbConfig, NamedDefaultsInheritance) {
  core::Diagnostics diags;
  Config c =
      load_config({(source_root() / "tests/unit/lb/testdata/07-defaults.cfg").string()}, diags);
  ASSERT_TRUE(diags.empty()) << diags.to_string();
  const Proxy* web = c.find_frontend("web_in");
  EXPECT_EQ(web->defaults, "web");
  EXPECT_EQ(web->mode, Mode::kHttp);
  EXPECT_EQ(web->timeouts.client, seconds(20));
  EXPECT_EQ(web->http_conn_mode, HttpConnMode::kServerClose);
  const Proxy* tcp = c.find_backend("tcp_out");
  EXPECT_EQ(tcp->mode, Mode::kTcp);
  EXPECT_EQ(tcp->timeouts.server, std::chrono::minutes(2));
  EXPECT_EQ(tcp->timeouts.connect, seconds(4));
}

TEST(LbConfig, LastDefaultsIsInheritedAndANewOneResets) {
  auto r =
      run("defaults\n mode http\n timeout client 7s\n timeout connect 1s\n timeout server 1s\n"
          "backend a\n server s 198.18.0.1:80\n"
          "defaults\n timeout client 9s\n timeout connect 1s\n timeout server 1s\n"
          "backend b\n server s 198.18.0.1:80\n");
  ASSERT_THAT(r.lines(), IsEmpty());
  EXPECT_EQ(r.cfg.find_backend("a")->mode, Mode::kHttp);
  EXPECT_EQ(r.cfg.find_backend("b")->mode, Mode::kTcp);
  EXPECT_EQ(r.cfg.find_backend("b")->timeouts.client, seconds(9));
}

TEST(LbConfig, BindForms) {
  auto r =
      run(with_base("frontend f\n bind 127.0.0.1:80,[::1]:81 name x\n bind :::82 v6only\n"
                    " bind 10.0.0.1:8000-8002 backlog 10\n bind unix@/run/x.sock\n bind abns@name\n"
                    " bind \"fd@${FD}\"\n bind /run/y.sock\n default_backend b\n"
                    "backend b\n server s 198.18.0.1:80\n"),
          {{"FD", "3"}});
  ASSERT_THAT(r.lines(), IsEmpty());
  const auto& b = r.cfg.proxies[0].binds;
  ASSERT_EQ(b.size(), 8u);
  EXPECT_EQ(b[0].address.to_string(), "127.0.0.1:80");
  EXPECT_EQ(b[0].name, "x");
  EXPECT_EQ(b[1].address.to_string(), "[::1]:81");
  EXPECT_EQ(b[1].name, "x");
  EXPECT_EQ(b[2].address.kind, Address::Kind::kIpv6);
  EXPECT_TRUE(b[2].address.wildcard);
  EXPECT_EQ(b[2].v6only, true);
  EXPECT_EQ(b[3].address.to_string(), "10.0.0.1:8000-8002");
  EXPECT_EQ(b[3].backlog, 10u);
  EXPECT_EQ(b[4].address.to_string(), "unix@/run/x.sock");
  EXPECT_EQ(b[5].address.to_string(), "abns@name");
  EXPECT_EQ(b[6].address.fd, 3);
  EXPECT_EQ(b[7].address.kind, Address::Kind::kUnix);
}

TEST(LbConfig, BindErrors) {
  auto r = run(with_base(
      "frontend f\n bind :443 ssl crt /x.pem\n bind :0\n bind foo:80\n bind :80 transprent\n"
      " bind :90-80\n"));
  EXPECT_THAT(r.lines(), ElementsAre("7:12: error: 'ssl' is not supported by tandem-lb",
                                     "8:7: error: invalid port '0' in ':0'",
                                     "9:7: error: invalid address 'foo' in 'foo:80'",
                                     "10:11: error: unknown keyword 'transprent' in bind options",
                                     "11:7: error: port range '90-80' ends before it starts",
                                     "6:1: warning: frontend 'f' has no 'bind' directive"));
  EXPECT_EQ(r.hint(0), "TLS termination not supported yet: terminate TLS in front of tandem-lb");
  EXPECT_EQ(r.hint(3), "did you mean 'transparent'?");
}

TEST(LbConfig, NosplicePlainGlobalFlag) {
  auto r = run(with_base("global\n nosplice\nbackend b\n server s 198.18.0.1:80\n"));
  ASSERT_THAT(r.lines(), IsEmpty());
  EXPECT_TRUE(r.cfg.global.nosplice);
  EXPECT_FALSE(run(with_base("backend b\n server s 198.18.0.1:80\n")).cfg.global.nosplice);
}

// haproxy's splice options: per direction, inherited from defaults, negatable, in every
// kind of section.
TEST(LbConfig, SpliceOptionsPerDirection) {
  auto r =
      run(with_base(" option splice-response\n"
                    "frontend f\n bind :80\n option splice-request\n default_backend b\n"
                    "backend b\n no option splice-response\n server s 198.18.0.1:80\n"
                    "listen l\n bind :81\n option splice-auto\n no option splice-request\n"
                    " server s 198.18.0.1:80\n"
                    "backend plain\n server s 198.18.0.1:80\n"));
  ASSERT_THAT(r.lines(), IsEmpty());
  ASSERT_EQ(r.cfg.proxies.size(), 4u);
  auto dirs = [&](size_t i) {
    return std::pair(r.cfg.proxies[i].splice_request, r.cfg.proxies[i].splice_response);
  };
  EXPECT_EQ(dirs(0), std::pair(true, true));    // f: its own, and defaults'
  EXPECT_EQ(dirs(1), std::pair(false, false));  // b: defaults' taken back
  EXPECT_EQ(dirs(2), std::pair(false, true));   // l: auto, then the request side off
  EXPECT_EQ(dirs(3), std::pair(false, true));   // plain: defaults'
  EXPECT_EQ(run(with_base("backend b\n server s 198.18.0.1:80\n")).cfg.proxies[0].splice_request,
            false);
}

// tcp-smart-accept: unset means "as the mode says" (HTTP on); tcp-smart-connect off unless
// asked. Each only where haproxy takes it.
TEST(LbConfig, TcpSmartAcceptAndConnect) {
  auto r =
      run(with_base(" option tcp-smart-connect\n"
                    "frontend f\n bind :80\n no option tcp-smart-accept\n default_backend b\n"
                    "backend b\n no option tcp-smart-connect\n server s 198.18.0.1:80\n"
                    "listen l\n bind :81\n option tcp-smart-accept\n server s 198.18.0.1:80\n"
                    "backend plain\n server s 198.18.0.1:80\n"));
  ASSERT_THAT(r.lines(), IsEmpty());
  ASSERT_EQ(r.cfg.proxies.size(), 4u);
  EXPECT_EQ(r.cfg.proxies[0].tcp_smart_accept, false);
  EXPECT_EQ(r.cfg.proxies[1].tcp_smart_connect, false);  // defaults' taken back
  EXPECT_EQ(r.cfg.proxies[2].tcp_smart_accept, true);
  EXPECT_EQ(r.cfg.proxies[2].tcp_smart_connect, true);  // defaults'
  EXPECT_EQ(r.cfg.proxies[3].tcp_smart_accept, std::nullopt);
  EXPECT_EQ(r.cfg.proxies[3].tcp_smart_connect, true);
  auto wrong =
      run(with_base("frontend f\n bind :80\n option tcp-smart-connect\n default_backend b\n"
                    "backend b\n option tcp-smart-accept\n server s 198.18.0.1:80\n"));
  EXPECT_THAT(
      wrong.lines(),
      ElementsAre("8:9: error: 'option tcp-smart-connect' is not allowed in a frontend section",
                  "11:9: error: 'option tcp-smart-accept' is not allowed in a backend section"));
}

// busy-polling as haproxy's (never sleep), 'no busy-polling' (sleep at once), unset: ours.
TEST(LbConfig, BusyPolling) {
  EXPECT_EQ(run(with_base("backend b\n server s 198.18.0.1:80\n")).cfg.global.busy_polling,
            std::nullopt);
  EXPECT_EQ(run("global\n busy-polling\n" + with_base("backend b\n server s 198.18.0.1:80\n"))
                .cfg.global.busy_polling,
            true);
  auto off = run("global\n busy-polling\n no busy-polling\n no nosplice\n" +
                 with_base("backend b\n server s 198.18.0.1:80\n"));
  EXPECT_EQ(off.cfg.global.busy_polling, false);
  EXPECT_THAT(off.lines(), ElementsAre("4:2: error: 'no nosplice' is not supported"));
  EXPECT_EQ(off.hint(0), "in the global section only 'no busy-polling' may start with 'no'");
}

TEST(LbConfig, UnixBindOwnerAndMode) {
  auto r = run(
      with_base("frontend f\n bind unix@/run/a.sock mode 660 user root group root\n"
                " bind unix@/run/b.sock uid 1000 gid 1001\n bind unix@/run/c.sock mode 9x\n"
                " bind unix@/run/d.sock user nobody-xyz\n bind unix@/run/e.sock group nogroup-xyz\n"
                " default_backend b\nbackend b\n server s 198.18.0.1:80\n"));
  EXPECT_THAT(r.lines(), ElementsAre("9:29: error: bad socket mode '9x'",
                                     "10:29: error: unknown user 'nobody-xyz'",
                                     "11:30: error: unknown group 'nogroup-xyz'"));
  EXPECT_EQ(r.hint(0), "write octal permissions such as 660");
  const auto& b = r.cfg.proxies[0].binds;
  ASSERT_GE(b.size(), 2u);
  EXPECT_EQ(b[0].mode, 0660u);
  EXPECT_EQ(b[0].uid, 0u);
  EXPECT_EQ(b[0].gid, 0u);
  EXPECT_EQ(b[1].mode, std::nullopt);
  EXPECT_EQ(b[1].uid, 1000u);
  EXPECT_EQ(b[1].gid, 1001u);
}

TEST(LbConfig, ServerParamsAndDefaultServer) {
  auto r =
      run(with_base("backend b\n default-server check inter 3s rise 5\n"
                    " server a 198.18.0.1:80 weight 0 fall 1 maxconn 10 maxqueue 5 slowstart 1m\n"
                    " server b app.internal:8080 no-check\n"));
  ASSERT_THAT(r.lines(), IsEmpty());
  const auto& s = r.cfg.proxies[0].servers;
  EXPECT_TRUE(s[0].params.check);
  EXPECT_EQ(s[0].params.inter, seconds(3));
  EXPECT_EQ(s[0].params.rise, 5u);
  EXPECT_EQ(s[0].params.fall, 1u);
  EXPECT_EQ(s[0].params.weight, 0u);
  EXPECT_EQ(s[0].params.slowstart, std::chrono::minutes(1));
  EXPECT_EQ(s[1].address.kind, Address::Kind::kName);
  EXPECT_FALSE(s[1].params.check);
}

// A time of 0 is "off" for slowstart and pool-purge-delay, and an error for the check
// intervals (haproxy's rules); pool-purge-delay defaults to 5 s.
TEST(LbConfig, ServerTimesOfZero) {
  auto r =
      run(with_base("backend b\n server a 198.18.0.1:80 slowstart 0 pool-purge-delay 0\n"
                    " server b 198.18.0.1:81 pool-purge-delay 250ms\n server c 198.18.0.1:82\n"
                    " server d 198.18.0.1:83 inter 0\n"));
  EXPECT_THAT(r.lines(), ElementsAre("10:31: error: 'inter' cannot be 0"));
  const auto& s = r.cfg.proxies[0].servers;
  ASSERT_GE(s.size(), 3u);
  EXPECT_EQ(s[0].params.slowstart, seconds(0));
  EXPECT_EQ(s[0].params.pool_purge_delay, seconds(0));
  EXPECT_EQ(s[1].params.pool_purge_delay, std::chrono::milliseconds(250));
  EXPECT_EQ(s[2].params.pool_purge_delay, seconds(5));
}

TEST(LbConfig, ServerErrors) {
  auto r = run(with_base(
      "backend b\n server a 198.18.0.1:80 chek\n server a2 198.18.0.1:80 ssl verify none\n"
      " server c 198.18.0.1\n server d 198.18.0.1:80 weight 300\n server d 198.18.0.1:80\n"
      " server d 198.18.0.2:80\n"));
  EXPECT_THAT(r.lines(),
              ElementsAre("7:25: error: unknown keyword 'chek' in server and default-server "
                          "parameters",
                          "8:26: error: 'ssl' is not supported by tandem-lb",
                          "9:11: error: missing port in '198.18.0.1'",
                          "10:32: error: weight 300 is out of range",
                          "12:9: error: server 'd' is defined twice in backend 'b'"));
  EXPECT_EQ(r.hint(0), "did you mean 'check'?");
  EXPECT_EQ(r.hint(4), "the first one is at h.cfg:11:2");
}

TEST(LbConfig, KeywordInTheWrongSection) {
  auto r =
      run(with_base("frontend f\n bind :80\n server s 1.2.3.4:80\n balance leastconn\n nbthread 2\n"
                    " timeout server 5s\n default_backend b\n"
                    "backend b\n bind :81\n server s 198.18.0.1:80\n"
                    "global\n mode http\n"));
  EXPECT_THAT(r.lines(),
              ElementsAre("8:2: error: 'server' is not allowed in a frontend section",
                          "9:2: error: 'balance' is not allowed in a frontend section",
                          "10:2: error: 'nbthread' is not allowed in a frontend section",
                          "11:10: error: 'timeout server' is not allowed in a frontend section",
                          "14:2: error: 'bind' is not allowed in a backend section",
                          "17:2: error: 'mode' is not allowed in the global section"));
  EXPECT_EQ(r.hint(0), "it is valid in listen, backend sections");
  EXPECT_EQ(r.hint(2), "it belongs in the global section");
  EXPECT_EQ(r.hint(5), "it is valid in defaults, frontend, listen, backend sections");
}

TEST(LbConfig, MisspelledAndUnsupportedKeywords) {
  auto r =
      run(with_base("backend b\n balanc roundrobin\n option htpchk\n cookie SRV insert\n"
                    " timeout conect 1s\n stick-table type ip size 1m\n server s 198.18.0.1:80\n"
                    "global\n maxcon 10\n lua-load /x.lua\n"));
  EXPECT_THAT(r.lines(), ElementsAre("7:2: error: unknown keyword 'balanc' in backend section 'b'",
                                     "8:9: error: unknown keyword 'htpchk' in option",
                                     "9:2: error: 'cookie' is not supported by tandem-lb",
                                     "10:10: error: unknown keyword 'conect' in timeout",
                                     "11:2: error: 'stick-table' is not supported by tandem-lb",
                                     "14:2: error: unknown keyword 'maxcon' in global section",
                                     "15:2: error: 'lua-load' is not supported by tandem-lb"));
  EXPECT_EQ(r.hint(0), "did you mean 'balance'?");
  EXPECT_EQ(r.hint(1), "did you mean 'httpchk'?");
  EXPECT_EQ(r.hint(2), "cookie persistence is not implemented");
  EXPECT_EQ(r.hint(3), "did you mean 'connect'?");
  EXPECT_EQ(r.hint(5), "did you mean 'maxconn'?");
  EXPECT_EQ(r.hint(6), "tandem-lb has no Lua");
}

TEST(LbConfig, OptionsAndNo) {
  auto r = run(with_base(
      "backend b\n option redispatch\n no option redispatch\n option httpclose\n"
      " option forwardfor except 10.0.0.0/8 header X-Client if-none\n no option forwardfor\n"
      " http-reuse never\n retries 0\n server s 198.18.0.1:80\n"));
  EXPECT_THAT(r.lines(), ElementsAre("11:12: error: 'no option forwardfor' is not supported"));
  const Proxy& b = r.cfg.proxies[0];
  EXPECT_FALSE(b.redispatch);
  EXPECT_EQ(b.http_conn_mode, HttpConnMode::kClose);
  EXPECT_EQ(b.forwardfor.header, "X-Client");
  EXPECT_EQ(b.forwardfor.except, "10.0.0.0/8");
  EXPECT_TRUE(b.forwardfor.if_none);
  EXPECT_EQ(b.http_reuse, HttpReuse::kNever);
  EXPECT_EQ(b.retries, 0u);
}

TEST(LbConfig, RulesStoreConditionsWithLocations) {
  auto r =
      run(with_base("frontend f\n bind :80\n acl api path_beg -i /api /v2\n"
                    " use_backend b if api || { hdr(host) api.test }\n"
                    " http-request set-header X-A \"%[src]\" unless api\n"
                    " http-request return status 503 content-type text/plain string down\n"
                    " http-response add-header X-B 1\n default_backend b\n"
                    "backend b\n server s 198.18.0.1:80\n"));
  ASSERT_THAT(r.lines(), IsEmpty());
  const Proxy& f = r.cfg.proxies[0];
  ASSERT_EQ(f.acls.size(), 1u);
  EXPECT_EQ(f.acls[0].name, "api");
  ASSERT_EQ(f.acls[0].words.size(), 4u);
  EXPECT_EQ(f.acls[0].words[1].text, "-i");
  EXPECT_EQ(f.acls[0].words[1].where.column, 19u);
  const auto& cond = *f.use_backends[0].condition;
  EXPECT_EQ(cond.polarity, Condition::Polarity::kIf);
  ASSERT_EQ(cond.words.size(), 6u);
  EXPECT_EQ(cond.words[1].text, "||");
  EXPECT_EQ(f.http_request[0].header, "X-A");
  EXPECT_EQ(f.http_request[0].value, "%[src]");
  EXPECT_EQ(f.http_request[0].condition->polarity, Condition::Polarity::kUnless);
  EXPECT_EQ(f.http_request[1].status, 503);
  EXPECT_EQ(f.http_request[1].body, "down");
  EXPECT_EQ(f.http_response[0].action, HttpRule::Action::kAddHeader);
}

TEST(LbConfig, RuleErrors) {
  auto r =
      run(with_base("frontend f\n bind :80\n http-request set-heder X 1\n http-request deny if\n"
                    " http-request lua.foo\n use_backend %[req.hdr(host)]\n default_backend b\n"
                    "backend b\n server s 198.18.0.1:80\n"));
  EXPECT_THAT(r.lines(),
              ElementsAre("8:15: error: unknown keyword 'set-heder' in http-request actions",
                          "9:20: error: missing condition after 'if'",
                          "10:15: error: unknown keyword 'lua.foo' in http-request actions",
                          "11:14: error: dynamic backend names are not supported by tandem-lb"));
  EXPECT_EQ(r.hint(0), "did you mean 'set-header'?");
}

TEST(LbConfig, PostChecks) {
  auto r =
      run(with_base("frontend f\n bind :80\n use_backend nope if x\n default_backend t\n"
                    "frontend g\n mode tcp\n bind :81\n default_backend h\n"
                    "backend t\n mode tcp\n server s 198.18.0.1:80\n"
                    "backend h\n server s 198.18.0.1:80\n"
                    "backend empty\n"
                    "frontend f\n bind :82\n default_backend h\n"));
  EXPECT_THAT(r.lines(),
              ElementsAre("19:1: warning: backend 'empty' has no server",
                          "20:10: error: frontend 'f' has the same name as frontend 'f'",
                          "8:2: error: frontend 'f' uses unknown backend 'nope' as its use_backend",
                          "6:1: error: http frontend 'f' tries to use incompatible tcp backend 't' "
                          "(h.cfg:14:1) as its default_backend (see 'mode')",
                          "10:1: error: tcp frontend 'g' uses http backend 'h' (h.cfg:17:1) as its "
                          "default_backend"));
  EXPECT_EQ(r.hint(2), "backends: t, h, empty");
}

TEST(LbConfig, SectionErrors) {
  auto r =
      run("maxconn 10\nfrontend\nbackend b from nowhere\n server s 198.18.0.1:80\n"
          "userlist u\n user x password y\ndefaults a b c\n");
  EXPECT_THAT(r.lines(), ElementsAre("1:1: error: 'maxconn' outside of any section",
                                     "2:1: error: frontend section without a name",
                                     "2:1: warning: frontend '' has no 'bind' directive",
                                     "2:1: warning: missing timeouts for frontend ''",
                                     "3:16: error: defaults section 'nowhere' not found",
                                     "3:1: warning: missing timeouts for backend 'b'",
                                     "5:1: error: section 'userlist' is not supported by tandem-lb",
                                     "7:12: error: unexpected 'c' after the defaults name"));
}

TEST(LbConfig, GlobalKeywords) {
  auto r =
      run("global\n nbthread 4\n user haproxy\n group haproxy\n chroot /var/empty\n"
          " pidfile /run/x.pid\n master-worker\n hard-stop-after 30s\n"
          " log stdout format raw local0 info\n log 198.18.0.9:5514 len 2048 local1 notice err\n"
          " log unix@/dev/log daemon\n stats socket ipv4@127.0.0.1:9999 level user\n"
          " ssl-default-bind-ciphers HIGH\n");
  EXPECT_THAT(r.lines(),
              ElementsAre("13:2: warning: 'ssl-default-bind-ciphers' has no effect: tandem-lb "
                          "does not terminate TLS yet"));
  const Global& g = r.cfg.global;
  EXPECT_EQ(g.nbthread, 4u);
  EXPECT_EQ(g.user, "haproxy");
  EXPECT_EQ(g.chroot, "/var/empty");
  EXPECT_TRUE(g.master_worker);
  EXPECT_EQ(g.hard_stop_after, seconds(30));
  ASSERT_EQ(g.logs.size(), 3u);
  EXPECT_EQ(g.logs[0].kind, LogTarget::Kind::kStdout);
  EXPECT_EQ(g.logs[0].format, "raw");
  EXPECT_EQ(g.logs[0].level, "info");
  EXPECT_EQ(g.logs[1].kind, LogTarget::Kind::kUdp);
  EXPECT_EQ(g.logs[1].port, 5514);
  EXPECT_EQ(g.logs[1].max_length, 2048u);
  EXPECT_EQ(g.logs[1].min_level, "err");
  EXPECT_EQ(g.logs[2].path, "/dev/log");
  ASSERT_EQ(g.stats_sockets.size(), 1u);
  EXPECT_EQ(g.stats_sockets[0].address.port_first, 9999);
}

TEST(LbConfig, GlobalErrors) {
  auto r =
      run("global\n log /dev/log local9\n tune.http.maxhdr 0\n stats socket /x mode 999\n"
          " nbthread\n");
  EXPECT_THAT(r.lines(), ElementsAre("2:15: error: unknown syslog facility 'local9'",
                                     "3:19: error: tune.http.maxhdr 0 is out of range",
                                     "4:23: error: invalid mode '999'",
                                     "5:2: error: 'nbthread' takes 1 argument, got 0"));
}

TEST(LbConfig, TimeoutsAndBalanceErrors) {
  auto r =
      run(with_base("backend b\n timeout connect 5x\n balance url_param id\n"
                    " balance hdr(\n server s 198.18.0.1:80\n"));
  EXPECT_THAT(r.lines(),
              ElementsAre("7:18: error: unknown time unit 'x' in timeout connect '5x'",
                          "8:10: error: 'balance url_param' is not supported by tandem-lb",
                          "9:10: error: unknown balance algorithm 'hdr('"));
}

// ---------------------------------------------------------------------------------------------
// Conditional blocks.

TEST(LbCond, EvalCondition) {
  auto env = env_of({{"A", "1"}, {"EMPTY", ""}});
  EXPECT_EQ(eval_condition("", env).value(), false);
  EXPECT_EQ(eval_condition("1", env).value(), true);
  EXPECT_EQ(eval_condition("0", env).value(), false);
  EXPECT_EQ(eval_condition("defined(A)", env).value(), true);
  EXPECT_EQ(eval_condition("defined(EMPTY)", env).value(), true);
  EXPECT_EQ(eval_condition("defined(B)", env).value(), false);
  EXPECT_EQ(eval_condition("!defined(B) && streq(x,x)", env).value(), true);
  EXPECT_EQ(eval_condition("0 && 1 || 1", env).value(), true);
  EXPECT_EQ(eval_condition("0 && (1 || 1)", env).value(), false);
  EXPECT_EQ(eval_condition("strneq(a,b)", env).value(), true);
  EXPECT_EQ(eval_condition("streq(\"a b\",'a b')", env).value(), true);
  EXPECT_EQ(eval_condition("feature(PROMEX)", env).value(), true);
  EXPECT_EQ(eval_condition("feature(OPENSSL)", env).value(), false);
  EXPECT_EQ(eval_condition("version_atleast(2.6)", env).value(), true);
  EXPECT_EQ(eval_condition("version_atleast(2.6-dev3)", env).value(), true);
  EXPECT_EQ(eval_condition("version_atleast(2.6.1)", env).value(), false);
  EXPECT_EQ(eval_condition("version_before(2.7)", env).value(), true);
  EXPECT_EQ(eval_condition("version_before(2.6)", env).value(), false);
  EXPECT_EQ(eval_condition("version_atleast(2.4-dev19)", env).value(), true);
  EXPECT_EQ(eval_condition("foo(1)", env).error().message,
            "unknown conditional predicate 'foo' (at offset 0 of \"foo(1)\")");
  EXPECT_FALSE(eval_condition("streq(a)", env));
  EXPECT_FALSE(eval_condition("(1", env));
  EXPECT_FALSE(eval_condition("1 1", env));
  EXPECT_FALSE(eval_condition("version_atleast(x.y)", env));
}

TEST(LbCond, BlocksSelectLines) {
  auto r = run(with_base(".if defined(PORT)\n"
                         "frontend f\n bind \"*:${PORT}\"\n"
                         ".elif 1\nfrontend g\n bind :1\n"
                         ".else\n bogus line\n.endif\n"
                         ".if 0\n .if 1\n  nonsense\n .else\n  more\n .endif\n"
                         ".elif 1\n default_backend b\n.endif\n"
                         "backend b\n server s 198.18.0.1:80\n"),
               {{"PORT", "8080"}});
  ASSERT_THAT(r.lines(), IsEmpty());
  ASSERT_EQ(r.cfg.proxies.size(), 2u);
  EXPECT_EQ(r.cfg.proxies[0].name, "f");
  EXPECT_EQ(r.cfg.proxies[0].binds[0].address.port_first, 8080);
  EXPECT_EQ(r.cfg.proxies[0].default_backend, "b");
}

TEST(LbCond, MessagesAndErrors) {
  auto r =
      run(".notice \"hello\"\n.warning careful now\n.if 0\n.alert hidden\n.endif\n"
          ".alert \"stop\"\n.diag d\n.else\n.endif\n.foo\n.if bad(\n.if 1\n.else\n.elif 1\n"
          ".endif\n.if 1\n");
  EXPECT_THAT(
      r.lines(),
      ElementsAre("1:1: note: hello", "2:1: warning: careful now", "6:1: error: stop",
                  "7:1: note: d", "8:1: error: '.else' without a matching '.if'",
                  "9:1: error: '.endif' without a matching '.if'",
                  "10:1: error: unknown directive '.foo'",
                  "11:5: error: invalid condition: unknown conditional predicate 'bad' "
                  "(at offset 0 of \"bad(\")",
                  "14:1: error: '.elif' after '.else'", "11:1: error: '.if' is never closed",
                  "16:1: error: '.if' is never closed"));
}

TEST(LbCond, LoadConfigDropsWarningsOfSkippedLines) {
  conf::testing::TempDir dir;
  std::string path = dir.write("a.cfg",
                               ".if defined(NOPE)\nglobal\n pidfile \"${NOPE}\"\n.endif\nglobal\n"
                               " pidfile \"${ALSO_NOPE}\"\n");
  core::Diagnostics diags;
  load_config({path}, diags, env_of({}));
  ASSERT_EQ(diags.all().size(), 1u) << diags.to_string();
  EXPECT_EQ(diags.all()[0].where.line, 6u);
}

TEST(LbCond, BlocksDoNotCrossFiles) {
  conf::testing::TempDir dir;
  dir.write("a.cfg", ".if 1\n");
  dir.write("b.cfg", ".endif\n");
  core::Diagnostics diags;
  load_config({dir.path()}, diags, env_of({}));
  EXPECT_THAT(brief(diags), ElementsAre("1:1: error: '.if' is never closed",
                                        "1:1: error: '.endif' without a matching '.if'"));
}

// ---------------------------------------------------------------------------------------------
// To regenerate: TANDEM_REGEN_DOCS=1 ./lb_unit_test --gtest_filter='*KeywordReference*'

TEST(LbConfig, KeywordReferenceInDocsIsUpToDate) {
  tandem::testing::check_generated_section(
      source_root() / "docs/lb.md", keyword_reference_markdown(),
      "TANDEM_REGEN_DOCS=1 build/<dir>/tests/unit/lb/lb_unit_test "
      "--gtest_filter='*KeywordReference*'");
}

}  // namespace
}  // namespace tandem::lb

namespace tandem::lb {
namespace {

TEST(LbConfig, ErrorfileIsInheritedAndChecked) {
  const std::string page = ::testing::TempDir() + "tandem_503.http";
  std::ofstream(page) << "HTTP/1.0 503 Service Unavailable\r\n\r\nbusy\n";
  auto r = run(with_base(" errorfile 503 " + page +
                         "\nfrontend f\n bind :8080\n default_backend b\n"
                         "backend b\n server s 127.0.0.1:80\n errorfile 418 " +
                         page + "\n errorfile 404 /nonexistent/tandem.http\n"));
  ASSERT_EQ(r.diags.error_count(), 2u) << r.diags.to_string();
  EXPECT_EQ(r.diags.all()[0].message, "no error page is ever sent with status 418");
  EXPECT_EQ(r.diags.all()[1].message, "cannot read errorfile '/nonexistent/tandem.http'");
  const Proxy* b = r.cfg.find_backend("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->errorfiles.at(503), page);  // from defaults
}

TEST(LbConfig, RedirectClearCookieTakesItsName) {
  auto r =
      run(with_base("frontend f\n bind :8080\n http-request redirect prefix /x clear-cookie SID=\n"
                    " default_backend b\nbackend b\n server s 127.0.0.1:80\n"));
  EXPECT_FALSE(r.diags.has_errors()) << r.diags.to_string();
  const Proxy* f = r.cfg.find_frontend("f");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->http_request.size(), 1u);
  EXPECT_EQ(f->http_request[0].redirect_options.back(), "clear-cookie SID=");
}

}  // namespace
}  // namespace tandem::lb
