// Unit tests of the http-request / http-response rule executor: order, final actions,
// header rewrites, redirects, returns, log-format values and the bytes answered.
#include "lb/rules.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/conf/test_util.h"

namespace tandem::lb {
namespace {

using conf::testing::brief;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Kind = Outcome::Kind;

// Lines 1-7; a test's own lines start at line 8.
constexpr std::string_view kHead =
    "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n"
    "listen f\n bind 127.0.0.1:8080\n";

struct Compiled {
  Config cfg;
  core::Diagnostics diags;
  ProxyRules rules;
};

std::unique_ptr<Compiled> compile(std::string_view body) {
  auto c = std::make_unique<Compiled>();
  std::string text = std::string(kHead) + std::string(body) + "\n server s 127.0.0.1:9000\n";
  auto lines = conf::lex_haproxy(text, std::make_shared<const std::string>("h.cfg"), c->diags);
  c->cfg = build_config(lines, c->diags);
  if (c->diags.has_errors()) return c;
  c->rules = ProxyRules::compile(c->cfg.proxies.at(0), c->diags);
  return c;
}

std::unique_ptr<Compiled> ok(std::string_view body) {
  auto c = compile(body);
  EXPECT_TRUE(c->diags.empty()) << c->diags.to_string();
  return c;
}

std::vector<std::string> errors_of(std::string_view body) {
  return brief(compile(body)->diags);
}

http1::Head request(std::string target, http1::Headers headers = {}, std::string method = "GET") {
  http1::Head h;
  h.method = std::move(method);
  h.target = std::move(target);
  h.headers = std::move(headers);
  return h;
}

http1::Head response(int status, http1::Headers headers = {}) {
  http1::Head h;
  h.status = status;
  h.reason = std::string(reason_phrase(status));
  h.headers = std::move(headers);
  return h;
}

RequestContext endpoints() {
  RequestContext ctx;
  ctx.src = *IpAddr::parse("10.1.2.3");
  ctx.src_port = 40000;
  ctx.dst = *IpAddr::parse("192.0.2.1");
  ctx.dst_port = 8080;
  return ctx;
}

Outcome run_req(const Compiled& c, http1::Head& h) {
  return c.rules.http_request.run(h, endpoints());
}

// ---------------------------------------------------------------------------------------------
// Order and final actions.

TEST(LbRules, RulesRunInOrderAndTheFirstFinalActionWins) {
  auto c =
      ok(" http-request set-header X-1 a\n"
         " http-request deny deny_status 503 if { path /d }\n"
         " http-request set-header X-2 b\n"
         " http-request return status 200 if { path /d }\n"
         " http-request deny");
  auto h = request("/d");
  auto o = run_req(*c, h);
  EXPECT_EQ(o.kind, Kind::kDeny);
  EXPECT_EQ(o.status, 503);
  EXPECT_THAT(h.headers, ElementsAre(http1::Header{"X-1", "a"}));  // X-2 never ran
  auto other = request("/o");
  EXPECT_EQ(run_req(*c, other).kind, Kind::kDeny);
  EXPECT_EQ(run_req(*c, other).status, 403);
}

TEST(LbRules, AllowStopsTheList) {
  auto c = ok(" http-request allow if { src 10.0.0.0/8 }\n http-request deny");
  auto h = request("/");
  auto o = run_req(*c, h);
  EXPECT_EQ(o.kind, Kind::kContinue);
  EXPECT_TRUE(o.allowed);
  auto ctx = endpoints();
  ctx.src = IpAddr::v4(11, 0, 0, 1);
  EXPECT_EQ(c->rules.http_request.run(h, ctx).kind, Kind::kDeny);
}

TEST(LbRules, NoRuleMatchingContinues) {
  auto c = ok(" http-request deny if { path /x }");
  auto h = request("/");
  auto o = run_req(*c, h);
  EXPECT_EQ(o.kind, Kind::kContinue);
  EXPECT_FALSE(o.allowed);
}

TEST(LbRules, UnlessCondition) {
  auto c = ok(" http-request deny unless { hdr(x-key) secret }");
  auto bad = request("/");
  EXPECT_EQ(run_req(*c, bad).kind, Kind::kDeny);
  auto good = request("/", {{"X-Key", "secret"}});
  EXPECT_EQ(run_req(*c, good).kind, Kind::kContinue);
}

// ---------------------------------------------------------------------------------------------
// Headers.

TEST(LbRules, RequestHeaderActions) {
  auto c =
      ok(" http-request set-header X-Set one\n"
         " http-request add-header X-Add two\n"
         " http-request del-header X-Del\n"
         " http-request set-header Host new.example if { hdr(host) old.example }");
  auto h = request("/", {{"x-set", "old"},
                         {"X-Del", "1"},
                         {"X-Add", "first"},
                         {"Host", "old.example"},
                         {"x-del", "2"},
                         {"X-Set", "old2"}});
  EXPECT_EQ(run_req(*c, h).kind, Kind::kContinue);
  EXPECT_THAT(h.headers,
              ElementsAre(http1::Header{"X-Add", "first"}, http1::Header{"X-Set", "one"},
                          http1::Header{"X-Add", "two"}, http1::Header{"Host", "new.example"}));
}

TEST(LbRules, LaterConditionsSeeEarlierRewrites) {
  // haproxy 2.6: a set-header X-Seen under { path /seen } made a later { hdr(x-seen) yes } match.
  auto c =
      ok(" http-request set-header X-Seen yes if { path /seen }\n"
         " http-request return status 200 content-type text/plain string seen-ok if { "
         "hdr(x-seen) yes }");
  auto h = request("/seen");
  auto o = run_req(*c, h);
  EXPECT_EQ(o.kind, Kind::kReturn);
  EXPECT_EQ(o.body, "seen-ok");
}

TEST(LbRules, ResponseRules) {
  // haproxy 2.6 with a 201 from its server: x-resp: 1 (status 201 matched), x-added: 201, and
  // the server's X-Drop removed.
  auto c =
      ok(" http-response set-header X-Resp 1 if { status 201 }\n"
         " http-response add-header X-Added %[status]\n"
         " http-response del-header X-Drop\n"
         " http-response set-header X-Type html if { res.hdr(content-type) -m beg text/html }\n"
         " http-response set-header X-Src %[src]");
  auto req = request("/");
  auto ctx = endpoints();
  ctx.request = &req;
  auto r = response(201, {{"Content-Type", "text/html; charset=utf-8"}, {"X-Drop", "gone"}});
  auto o = c->rules.http_response.run(r, ctx);
  EXPECT_EQ(o.kind, Kind::kContinue);
  EXPECT_THAT(r.headers,
              ElementsAre(http1::Header{"Content-Type", "text/html; charset=utf-8"},
                          http1::Header{"X-Resp", "1"}, http1::Header{"X-Added", "201"},
                          http1::Header{"X-Type", "html"}, http1::Header{"X-Src", "10.1.2.3"}));
  auto r2 = response(200);
  c->rules.http_response.run(r2, ctx);
  EXPECT_EQ(http1::find_header(r2.headers, "x-resp"), nullptr);
}

TEST(LbRules, HdrInResponseRulesReadsTheResponse) {
  auto c = ok(" http-response set-header X-Hit 1 if { hdr(server) nginx }");
  auto req = request("/", {{"Server", "nginx"}});
  auto ctx = endpoints();
  ctx.request = &req;
  auto r = response(200);
  c->rules.http_response.run(r, ctx);
  EXPECT_EQ(http1::find_header(r.headers, "x-hit"), nullptr);
  auto r2 = response(200, {{"Server", "nginx"}});
  c->rules.http_response.run(r2, ctx);
  EXPECT_NE(http1::find_header(r2.headers, "x-hit"), nullptr);
}

TEST(LbRules, ResponseDenyDefaultsTo502) {
  auto c = ok(" http-response deny if { status 500 }");
  auto req = request("/");
  auto ctx = endpoints();
  ctx.request = &req;
  auto r = response(500);
  auto o = c->rules.http_response.run(r, ctx);
  EXPECT_EQ(o.kind, Kind::kDeny);
  EXPECT_EQ(o.status, 502);
}

// ---------------------------------------------------------------------------------------------
// Log-format values.

TEST(LbRules, LogFormatValues) {
  // haproxy 2.6: lf-string "src=%[src] port=%[dst_port] h=%[hdr(x)] m=%[method]" with
  // "X: 1" and "X: 2,3" gave "src=127.0.0.1 port=18181 h=3 m=GET"; "a%%b" gave "a%b"; a
  // missing header gives nothing.
  auto c =
      ok(" http-request set-header X-Real-IP %[src]\n"
         " http-request set-header X-Pct a%%b\n"
         " http-request set-header X-Old was-%[hdr(x-old)]\n"
         " http-request set-header X-Old now\n"
         " http-request set-header X-Missing [%[hdr(nope)]]\n"
         " http-request return status 200 content-type text/plain lf-string "
         "\"src=%[src] port=%[dst_port] h=%[hdr(x)] m=%[method] p=%[path] q=%[query]\"");
  auto h = request("/p?q=1", {{"X", "1"}, {"X", "2,3"}, {"X-Old", "v"}});
  auto o = run_req(*c, h);
  EXPECT_EQ(o.kind, Kind::kReturn);
  EXPECT_EQ(o.body, "src=10.1.2.3 port=8080 h=3 m=GET p=/p q=q=1");
  EXPECT_EQ(o.content_type, "text/plain");
  EXPECT_EQ(http1::find_header(h.headers, "x-real-ip")->value, "10.1.2.3");
  EXPECT_EQ(http1::find_header(h.headers, "x-pct")->value, "a%b");
  EXPECT_EQ(http1::find_header(h.headers, "x-old")->value, "now");
  EXPECT_EQ(http1::find_header(h.headers, "x-missing")->value, "[]");
}

TEST(LbRules, LogFormatHeaderOccurrences) {
  // Measured: "[%[hdr(x,1)]][%[req.fhdr(x)]][%[hdr_cnt(x)]]" -> "[1][3][3]".
  auto c =
      ok(" http-request return status 200 content-type text/plain lf-string "
         "\"[%[hdr(x,1)]][%[req.fhdr(x)]][%[hdr_cnt(x)]]\"");
  auto h = request("/", {{"X", "1,2"}, {"X", "3"}});
  EXPECT_EQ(run_req(*c, h).body, "[1][3][3]");
}

TEST(LbRules, SetHeaderReadsTheOldValueFirst) {
  auto c = ok(" http-request set-header X-Old was-%[hdr(x-old)]");
  auto h = request("/", {{"X-Old", "v"}});
  run_req(*c, h);
  EXPECT_THAT(h.headers, ElementsAre(http1::Header{"X-Old", "was-v"}));
}

TEST(LbRules, UnsupportedLogFormatFormsAreErrors) {
  EXPECT_THAT(
      errors_of(" http-request set-header X %ci"),
      ElementsAre("8:2: error: http-request set-header value: log-format variable '%ci' is not "
                  "supported by tandem-lb"));
  EXPECT_THAT(
      errors_of(" http-request set-header X %{+Q}o"),
      ElementsAre("8:2: error: http-request set-header value: log-format variable '%{+Q}o' is "
                  "not supported by tandem-lb"));
  EXPECT_THAT(errors_of(" http-request set-header X %[src,lower]"),
              ElementsAre("8:2: error: http-request set-header value: converters ('lower') are not "
                          "supported by tandem-lb"));
  EXPECT_THAT(
      errors_of(" http-request set-header X %[foo]"),
      ElementsAre("8:2: error: http-request set-header value: in '%[foo]': unknown fetch 'foo'"));
  EXPECT_THAT(
      errors_of(" http-request set-header X a%"),
      ElementsAre("8:2: error: http-request set-header value: truncated '%' at the end of 'a%'"));
  EXPECT_THAT(errors_of(" http-request set-header X %[src"),
              ElementsAre("8:2: error: http-request set-header value: missing ']' after '%[src'"));
  EXPECT_THAT(
      errors_of(" http-request set-header X %[status]"),
      ElementsAre("8:2: error: http-request set-header value: 'status' is not available while "
                  "processing the request"));
  EXPECT_THAT(
      errors_of(" http-request return status 200 content-type t lf-string %T"),
      ElementsAre("8:2: error: http-request return lf-string: log-format variable '%T' is not "
                  "supported by tandem-lb"));
  auto hint = compile(" http-request set-header X %ci");
  EXPECT_THAT(hint->diags.all().at(0).hint, ::testing::HasSubstr("'%[FETCH]'"));
}

// ---------------------------------------------------------------------------------------------
// deny, return, use-service.

TEST(LbRules, DenyStatusMustHaveAnErrorPage) {
  // haproxy 2.6: "status code '418' not handled by default with 'default-errorfiles' argument".
  EXPECT_THAT(
      errors_of(" http-request deny deny_status 418"),
      ElementsAre("8:2: error: deny_status 418 has no error page in tandem-lb (nor by default "
                  "in haproxy)"));
  EXPECT_THAT(errors_of(" http-request deny deny_status 429"), IsEmpty());
}

TEST(LbRules, DenyBytesAreHaproxys) {
  // Captured from haproxy 2.6 (`curl -i` of `http-request deny`).
  Outcome o;
  o.kind = Kind::kDeny;
  o.status = 403;
  EXPECT_EQ(render_response(o, false),
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\n"
            "content-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\n"
            "Request forbidden by administrative rules.\n</body></html>\n");
  EXPECT_EQ(render_response(o, true),
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\n"
            "content-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>403 "
            "Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n");
  o.status = 400;  // already closes: not added twice
  EXPECT_EQ(render_response(o, true), default_error_response(400));
}

TEST(LbRules, EveryErrorPageHasAConsistentLength) {
  for (int s : {200, 400, 403, 404, 405, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504}) {
    std::string_view page = default_error_response(s);
    ASSERT_FALSE(page.empty()) << s;
    auto body = page.substr(page.find("\r\n\r\n") + 4);
    EXPECT_NE(page.find(fmt::format("content-length: {}\r\n", body.size())), std::string_view::npos)
        << s;
    EXPECT_TRUE(page.starts_with(fmt::format("HTTP/1.1 {} ", s))) << s;
  }
  EXPECT_TRUE(default_error_response(418).empty());
  EXPECT_NE(default_error_response(503).find("No server is available to handle this request."),
            std::string_view::npos);
}

TEST(LbRules, Return) {
  auto c =
      ok(" http-request return status 404 if { path /r404 }\n"
         " http-request return status 204 if { path /r204 }\n"
         " http-request return content-type text/plain string hello if { path /s }\n"
         " http-request return status 503 content-type application/json string {} if { "
         "path /j }");
  auto h = request("/r404");
  auto o = run_req(*c, h);
  EXPECT_EQ(o.kind, Kind::kReturn);
  EXPECT_EQ(o.status, 404);
  EXPECT_FALSE(o.body);
  // haproxy 2.6: "HTTP/1.1 404 Not Found", "content-length: 0"; 204 has no length.
  EXPECT_EQ(render_response(o, false), "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
  h = request("/r204");
  EXPECT_EQ(render_response(run_req(*c, h), false), "HTTP/1.1 204 No Content\r\n\r\n");
  h = request("/s");
  o = run_req(*c, h);
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(render_response(o, true),
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n"
            "connection: close\r\n\r\nhello");
  h = request("/j");
  o = run_req(*c, h);
  EXPECT_EQ(o.status, 503);
  EXPECT_EQ(o.body, "{}");
  EXPECT_EQ(o.content_type, "application/json");
}

TEST(LbRules, UseService) {
  auto c = ok(" http-request use-service prometheus-exporter if { path /metrics }");
  auto h = request("/metrics");
  auto o = run_req(*c, h);
  EXPECT_EQ(o.kind, Kind::kService);
  EXPECT_EQ(o.service, "prometheus-exporter");
  EXPECT_EQ(render_response(o, false), "");
  auto other = request("/");
  EXPECT_EQ(run_req(*c, other).kind, Kind::kContinue);
}

// ---------------------------------------------------------------------------------------------
// Redirects; the expected locations were measured with haproxy 2.6 on 127.0.0.1.

Outcome redirect_of(std::string_view rule, http1::Head h) {
  auto c = ok(std::string(" http-request redirect ") + std::string(rule));
  return run_req(*c, h);
}

TEST(LbRules, RedirectLocation) {
  auto o = redirect_of("location /x%[path] code 303", request("/c303/a"));
  EXPECT_EQ(o.kind, Kind::kRedirect);
  EXPECT_EQ(o.status, 303);
  EXPECT_EQ(o.location, "/x/c303/a");
  EXPECT_EQ(render_response(o, false),
            "HTTP/1.1 303 See Other\r\ncontent-length: 0\r\nlocation: /x/c303/a\r\n"
            "cache-control: no-cache\r\n\r\n");
  o = redirect_of("location https://h.example/", request("/a?b"));
  EXPECT_EQ(o.status, 302);
  EXPECT_EQ(o.location, "https://h.example/");
}

TEST(LbRules, RedirectPrefix) {
  EXPECT_EQ(redirect_of("prefix /new drop-query", request("/p1/x?q=1")).location, "/new/p1/x");
  // append-slash without drop-query appends after the query, as haproxy does.
  EXPECT_EQ(redirect_of("prefix /new append-slash", request("/p2/x?q=1")).location,
            "/new/p2/x?q=1/");
  EXPECT_EQ(redirect_of("prefix / ", request("/p3/x?q=1")).location, "/p3/x?q=1");
  EXPECT_EQ(redirect_of("prefix http://other drop-query append-slash", request("/pp/a?x")).location,
            "http://other/pp/a/");
  EXPECT_EQ(redirect_of("prefix /n append-slash", request("/a/")).location, "/n/a/");
  EXPECT_EQ(redirect_of("prefix /n", request("http://h/abs?x")).location, "/n/abs?x");
}

TEST(LbRules, RedirectScheme) {
  auto o = redirect_of("scheme https code 301", request("/s1/x?q", {{"Host", "127.0.0.1:18181"}}));
  EXPECT_EQ(o.location, "https://127.0.0.1:18181/s1/x?q");
  // 301 and 308 carry no cache-control.
  EXPECT_EQ(render_response(o, false),
            "HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\n"
            "location: https://127.0.0.1:18181/s1/x?q\r\n\r\n");
  // Without a Host header haproxy writes an empty authority (HTTP/1.0 request measured).
  EXPECT_EQ(redirect_of("scheme https", request("/noh")).location, "https:///noh");
  EXPECT_EQ(redirect_of("scheme https drop-query", request("/a?b", {{"Host", "h"}})).location,
            "https://h/a");
}

TEST(LbRules, RedirectCookies) {
  auto o = redirect_of("location /loc set-cookie FOO=bar", request("/l1"));
  EXPECT_THAT(o.set_cookies, ElementsAre("FOO=bar; path=/;"));
  EXPECT_EQ(render_response(o, false),
            "HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: /loc\r\n"
            "cache-control: no-cache\r\nset-cookie: FOO=bar; path=/;\r\n\r\n");
}

TEST(LbRules, RedirectCodesAndCacheControl) {
  for (auto [code, cc] :
       {std::pair{301, false}, {302, true}, {303, true}, {307, true}, {308, false}}) {
    auto o = redirect_of(fmt::format("location /x code {}", code), request("/"));
    EXPECT_EQ(o.status, code);
    EXPECT_EQ(render_response(o, false).find("cache-control") != std::string::npos, cc) << code;
  }
}

TEST(LbRules, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(302), "Found");
  EXPECT_EQ(reason_phrase(308), "Permanent Redirect");
  EXPECT_EQ(reason_phrase(299), "Unknown");
}

TEST(LbRules, ConditionErrorsDropTheRule) {
  auto c = compile(" http-request deny if nope\n http-request set-header X 1");
  EXPECT_THAT(brief(c->diags), ElementsAre("8:23: error: no such ACL: 'nope'"));
  EXPECT_EQ(c->rules.http_request.size(), 1u);
}

TEST(LbRules, StatsAdminCondition) {
  auto c = ok(" stats enable\n stats admin if LOCALHOST");
  ASSERT_TRUE(c->rules.stats_admin);
  auto h = request("/");
  auto ctx = endpoints();
  ctx.request = &h;
  EXPECT_FALSE(c->rules.stats_admin->eval(ctx));
  ctx.src = IpAddr::v4(127, 0, 0, 1);
  EXPECT_TRUE(c->rules.stats_admin->eval(ctx));
}

}  // namespace
}  // namespace tandem::lb
