// Unit tests of the ACL engine: every criterion and flag, conditions, predefined ACLs and the
// configuration errors, through haproxy.cfg text as a user writes it.
#include "lb/acl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lb/rules.h"
#include "unit/conf/test_util.h"

namespace tandem::lb {
namespace {

using conf::testing::brief;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

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
  if (c->diags.has_errors()) return c;  // the grammar refused it: nothing to compile
  c->rules = ProxyRules::compile(c->cfg.proxies.at(0), c->diags);
  return c;
}

http1::Head request(std::string method, std::string target, http1::Headers headers = {},
                    http1::Version v = http1::Version::k11) {
  http1::Head h;
  h.method = std::move(method);
  h.target = std::move(target);
  h.headers = std::move(headers);
  h.version = v;
  return h;
}

RequestContext endpoints(std::string_view src = "10.1.2.3", uint16_t dst_port = 80) {
  RequestContext ctx;
  ctx.src = *IpAddr::parse(src);
  ctx.src_port = 40000;
  ctx.dst = *IpAddr::parse("192.0.2.1");
  ctx.dst_port = dst_port;
  return ctx;
}

// Does `http-request deny if COND` deny this request?
class Cond {
 public:
  explicit Cond(std::string_view lines) : c_(compile(lines)) {
    EXPECT_TRUE(c_->diags.empty()) << c_->diags.to_string();
  }
  bool operator()(http1::Head h, const RequestContext& ctx = endpoints()) const {
    return c_->rules.http_request.run(h, ctx).kind == Outcome::Kind::kDeny;
  }
  bool get(std::string target, http1::Headers headers = {}) const {
    return (*this)(request("GET", std::move(target), std::move(headers)));
  }

 private:
  std::unique_ptr<Compiled> c_;
};

// An anonymous ACL: `http-request deny if { CRITERION ... }`.
Cond anon(std::string_view expr) {
  return Cond(std::string(" http-request deny if { ") + std::string(expr) + " }");
}

std::vector<std::string> errors_of(std::string_view body) {
  return brief(compile(body)->diags);
}

// ---------------------------------------------------------------------------------------------
// Paths and URLs.

TEST(LbAcl, PathFamily) {
  EXPECT_TRUE(anon("path /a").get("/a?x=1"));  // the query is not part of the path
  EXPECT_FALSE(anon("path /a").get("/a/"));
  EXPECT_TRUE(anon("path_beg /api/").get("/api/v1"));
  EXPECT_FALSE(anon("path_beg /api/").get("/apx"));
  EXPECT_TRUE(anon("path_end .jpg .png").get("/i/x.png?v=2"));
  EXPECT_FALSE(anon("path_end .jpg").get("/x.jpg/y"));
  EXPECT_TRUE(anon("path_sub admin").get("/x/admin/y"));
  EXPECT_TRUE(anon("path_reg ^/v[0-9]+/").get("/v12/a"));
  EXPECT_FALSE(anon("path_reg ^/v[0-9]+/").get("/va/a"));
  // The path is a view into the target: '$' must stop at the '?', not at the string's end.
  EXPECT_TRUE(anon("path_reg ^/a$").get("/a?x=1"));
  EXPECT_FALSE(anon("path_reg x").get("/a?x=1"));
  EXPECT_TRUE(anon("path_len 5").get("/abcd?q"));
  EXPECT_TRUE(anon("path_len gt 3").get("/abcd"));
  EXPECT_FALSE(anon("path_len gt 3").get("/ab"));
}

TEST(LbAcl, PathDirAndDomMatchDelimitedWords) {
  // haproxy 2.6 on 127.0.0.1: path_dir b matched "/dir/b?x"; hdr_dom(host) example matched
  // "www.example.com".
  EXPECT_TRUE(anon("path_dir b").get("/dir/b?x"));
  EXPECT_TRUE(anon("path_dir /a/b").get("/a/b/c"));
  EXPECT_FALSE(anon("path_dir b").get("/dir/bc"));
  EXPECT_TRUE(anon("hdr_dom(host) example").get("/", {{"Host", "www.example.com"}}));
  EXPECT_FALSE(anon("hdr_dom(host) exam").get("/", {{"Host", "www.example.com"}}));
  EXPECT_TRUE(anon("path_dom com").get("/www.example.com"));
}

TEST(LbAcl, AbsoluteFormTargetsHaveAPath) {
  EXPECT_TRUE(anon("path /abs").get("http://h.example/abs?x"));
  EXPECT_TRUE(anon("url_beg http:").get("http://h.example/abs?x"));
  EXPECT_FALSE(anon("path -m found").get("*"));
  EXPECT_EQ(request_path("http://h/a/b?c"), "/a/b");
  EXPECT_EQ(request_path("http://h"), "");
  EXPECT_EQ(request_path("/a?b?c"), "/a");
}

TEST(LbAcl, UrlAndQuery) {
  EXPECT_TRUE(anon("url /a?b=1").get("/a?b=1"));
  EXPECT_TRUE(anon("url_sub b=1").get("/a?b=1"));
  EXPECT_TRUE(anon("query b=1").get("/a?b=1"));
  // haproxy 2.6: `query -m found` matched "/q?" and not "/q".
  EXPECT_FALSE(anon("query -m found").get("/a"));
  EXPECT_TRUE(anon("query -m found").get("/a?"));
}

// ---------------------------------------------------------------------------------------------
// Flags and match methods.

TEST(LbAcl, CaseInsensitiveFlag) {
  EXPECT_FALSE(anon("path /ABC").get("/abc"));
  EXPECT_TRUE(anon("path -i /ABC").get("/abc"));
  EXPECT_TRUE(anon("path_beg -i /API").get("/api/x"));
  EXPECT_TRUE(anon("path_end -i .JPG").get("/x.jpg"));
  EXPECT_TRUE(anon("path_sub -i ADM").get("/x/admin"));
  EXPECT_TRUE(anon("path_reg -i ^/REG").get("/reg"));  // measured with haproxy 2.6
  EXPECT_FALSE(anon("path_reg ^/REG").get("/reg"));
}

TEST(LbAcl, ExplicitMatchMethods) {
  EXPECT_TRUE(anon("path -m str /a").get("/a"));
  EXPECT_TRUE(anon("path -m beg /a").get("/ab"));
  EXPECT_TRUE(anon("path -m end b").get("/ab"));
  EXPECT_TRUE(anon("path -m sub x").get("/axb"));
  EXPECT_TRUE(anon("path -m reg ^/a+$").get("/aaa"));
  EXPECT_TRUE(anon("path -m len 3").get("/ab"));
  EXPECT_TRUE(anon("path -m dir a").get("/a/b"));
  EXPECT_TRUE(anon("hdr(x-a) -m found").get("/", {{"X-A", ""}}));
  EXPECT_FALSE(anon("hdr(x-a) -m found").get("/", {{"X-B", "1"}}));
  EXPECT_TRUE(anon("hdr(x-a) -i -m beg ABC").get("/", {{"x-a", "abcdef"}}));
  EXPECT_TRUE(anon("hdr(x-a) -m ip 10.0.0.0/8").get("/", {{"x-a", "10.9.9.9"}}));
  EXPECT_TRUE(anon("hdr(x-a) -m int 5:9").get("/", {{"x-a", "7"}}));
  // haproxy 2.6 matched "7x" with `hdr(x) -m int 5:9`: strings cast by their leading digits.
  EXPECT_TRUE(anon("hdr(x-a) -m int 5:9").get("/", {{"x-a", "7x"}}));
  EXPECT_FALSE(anon("hdr(x-a) -m int 0:9").get("/", {{"x-a", ""}}));
  EXPECT_TRUE(anon("hdr(x-a) -m int 0").get("/", {{"x-a", "abc"}}));
  EXPECT_TRUE(anon("dst_port -m str 80").get("/"));
  EXPECT_TRUE(anon("src -m beg 10.1.").get("/"));  // measured: `src -m beg 127.0.` matched
  EXPECT_TRUE(anon("hdr_cnt(x) -m bool").get("/", {{"x", "1"}}));
  EXPECT_FALSE(anon("hdr_cnt(x) -m bool").get("/"));
}

TEST(LbAcl, DoubleDashEndsFlags) {
  EXPECT_TRUE(anon("hdr(x) -- -1").get("/", {{"x", "-1"}}));
}

TEST(LbAcl, AnyValueMatches) {
  Cond c(" acl api path_beg /api /v2\n http-request deny if api");
  EXPECT_TRUE(c.get("/api/x"));
  EXPECT_TRUE(c.get("/v2/x"));
  EXPECT_FALSE(c.get("/v3/x"));
}

TEST(LbAcl, LinesWithOneNameAreOred) {
  Cond c(" acl x path /a\n acl x hdr(host) h.example\n http-request deny if x");
  EXPECT_TRUE(c.get("/a"));
  EXPECT_TRUE(c.get("/b", {{"Host", "h.example"}}));
  EXPECT_FALSE(c.get("/b", {{"Host", "other"}}));
}

// ---------------------------------------------------------------------------------------------
// Headers.

TEST(LbAcl, HostHeaderMatchesExactlyAndCaseInsensitivelyWithI) {
  // haproxy 2.6: "Host: A.Example" matched `hdr(host) -i a.example`, "a.example:80" did not.
  Cond c(" acl is_a hdr(host) -i a.example\n http-request deny if is_a");
  EXPECT_TRUE(c.get("/", {{"Host", "A.Example"}}));
  EXPECT_FALSE(c.get("/", {{"Host", "a.example:80"}}));
  EXPECT_FALSE(c.get("/"));
  EXPECT_TRUE(anon("hdr_beg(host) a.example").get("/", {{"HOST", "a.example:80"}}));
}

TEST(LbAcl, HdrSplitsValuesAtCommasAndSeesEveryOccurrence) {
  // haproxy 2.6: `hdr(x) b` matched "X: a, b"; `hdr_cnt(x) 3` matched "X: 1, 2" + "X: 3".
  EXPECT_TRUE(anon("hdr(x) b").get("/", {{"X", "a, b"}}));
  EXPECT_TRUE(anon("hdr(x) c").get("/", {{"X", "a"}, {"Y", "z"}, {"x", "c"}}));
  EXPECT_FALSE(anon("req.fhdr(x) b").get("/", {{"X", "a, b"}}));
  EXPECT_TRUE(anon("req.fhdr(x) a,\\ b").get("/", {{"X", "a, b"}}));
  EXPECT_TRUE(anon("hdr_cnt(x) 3").get("/", {{"X", "1, 2"}, {"X", "3"}}));
  EXPECT_TRUE(anon("req.fhdr_cnt(x) 2").get("/", {{"X", "1, 2"}, {"X", "3"}}));
  EXPECT_TRUE(anon("hdr_cnt(x) 0").get("/"));
  EXPECT_TRUE(anon("hdr_sub(accept) json").get("/", {{"Accept", "text/html, application/json"}}));
  EXPECT_TRUE(anon("hdr_end(x) b").get("/", {{"X", "ab"}}));
  EXPECT_TRUE(anon("hdr_reg(x) ^a.$").get("/", {{"X", "ab"}}));
  EXPECT_TRUE(anon("hdr_len(x) 2").get("/", {{"X", "ab"}}));
  EXPECT_TRUE(anon("req.hdr(x) ab").get("/", {{"X", "ab"}}));
}

// haproxy 2.6: `hdr(x,2) 2` matched "X: 1,2"; lf-string "[%[hdr(x,1)]][%[req.fhdr(x)]]
// [%[hdr_cnt(x)]]" with "X: 1,2" and "X: 3" gave "[1][3][3]" (see rules_test for %[]).
TEST(LbAcl, HeaderOccurrence) {
  http1::Headers h = {{"X", "1, 2"}, {"X", "3"}};
  EXPECT_TRUE(anon("hdr(x,1) 1").get("/", h));
  EXPECT_FALSE(anon("hdr(x,1) 2").get("/", h));
  EXPECT_TRUE(anon("hdr(x,2) 2").get("/", h));
  EXPECT_TRUE(anon("hdr(x,-1) 3").get("/", h));
  EXPECT_FALSE(anon("hdr(x,-1) 2").get("/", h));
  EXPECT_FALSE(anon("hdr(x,4) -m found").get("/", h));
}

TEST(LbAcl, HdrVal) {
  EXPECT_TRUE(anon("hdr_val(content-length) gt 0").get("/", {{"Content-Length", "10"}}));
  EXPECT_FALSE(anon("hdr_val(content-length) gt 0").get("/", {{"Content-Length", "0"}}));
  EXPECT_TRUE(anon("hdr_val(x) lt 0").get("/", {{"x", "-4"}}));
}

// ---------------------------------------------------------------------------------------------
// Method, addresses, ports.

TEST(LbAcl, MethodMatchesAsHaproxy) {
  // haproxy 2.6 knows GET, HEAD, POST, PUT, DELETE, OPTIONS, CONNECT and TRACE by exact name:
  // measured, `method -i get` did not match GET (but matched "get"), `method get` missed GET.
  EXPECT_TRUE(anon("method GET")(request("GET", "/")));
  EXPECT_TRUE(anon("method GET POST")(request("POST", "/")));
  EXPECT_FALSE(anon("method get")(request("GET", "/")));
  EXPECT_FALSE(anon("method -i get")(request("GET", "/")));
  EXPECT_TRUE(anon("method -i get")(request("get", "/")));
  EXPECT_TRUE(anon("method -i purge")(request("PURGE", "/")));
  EXPECT_FALSE(anon("method purge")(request("PURGE", "/")));
  EXPECT_TRUE(anon("method PURGE")(request("PURGE", "/")));
  EXPECT_TRUE(anon("method -m beg PO")(request("POST", "/")));
}

TEST(LbAcl, SrcNetworks) {
  auto r = request("GET", "/");
  Cond c(
      " acl in src 10.0.0.0/8 192.168.1.1 2001:db8::/32 172.16.0.0/255.240.0.0\n"
      " http-request deny if in");
  EXPECT_TRUE(c(r, endpoints("10.200.0.1")));
  EXPECT_TRUE(c(r, endpoints("192.168.1.1")));
  EXPECT_FALSE(c(r, endpoints("192.168.1.2")));
  EXPECT_TRUE(c(r, endpoints("2001:db8:1::5")));
  EXPECT_FALSE(c(r, endpoints("2001:db9::5")));
  EXPECT_TRUE(c(r, endpoints("172.31.255.255")));
  EXPECT_FALSE(c(r, endpoints("172.32.0.0")));
  // v4 networks match v4-mapped v6 clients; v6 mapped networks match v4 clients (measured:
  // `src ::ffff:127.0.0.0/104` matched a 127.0.0.1 client in haproxy 2.6).
  EXPECT_TRUE(c(r, endpoints("::ffff:10.1.1.1")));
  EXPECT_TRUE(anon("src ::ffff:127.0.0.0/104")(r, endpoints("127.0.0.1")));
  EXPECT_TRUE(anon("dst 192.0.2.0/24")(r));
}

TEST(LbAcl, PortRangesAndOperators) {
  auto r = request("GET", "/");
  EXPECT_TRUE(anon("dst_port 80:90")(r, endpoints("10.0.0.1", 85)));
  EXPECT_FALSE(anon("dst_port 80:90")(r, endpoints("10.0.0.1", 91)));
  EXPECT_TRUE(anon("dst_port :90")(r, endpoints("10.0.0.1", 1)));
  EXPECT_TRUE(anon("dst_port 8000:")(r, endpoints("10.0.0.1", 8443)));
  EXPECT_TRUE(anon("dst_port 80 443")(r, endpoints("10.0.0.1", 443)));
  EXPECT_TRUE(anon("dst_port gt 80")(r, endpoints("10.0.0.1", 81)));
  EXPECT_FALSE(anon("dst_port gt 80")(r, endpoints("10.0.0.1", 80)));
  EXPECT_TRUE(anon("dst_port ge 80")(r, endpoints("10.0.0.1", 80)));
  EXPECT_TRUE(anon("dst_port lt 80")(r, endpoints("10.0.0.1", 79)));
  EXPECT_FALSE(anon("dst_port le 80")(r, endpoints("10.0.0.1", 81)));
  EXPECT_TRUE(anon("dst_port eq 80")(r, endpoints("10.0.0.1", 80)));
  // An operator applies to the values after it.
  EXPECT_TRUE(anon("dst_port lt 10 gt 1000")(r, endpoints("10.0.0.1", 2000)));
  EXPECT_TRUE(anon("src_port 40000")(r));
  EXPECT_FALSE(anon("dst_port gt 9223372036854775807")(r));
  EXPECT_FALSE(anon("dst_port lt -9223372036854775808")(r));
}

// ---------------------------------------------------------------------------------------------
// Conditions.

TEST(LbAcl, NegationAndOrAndImplicitAnd) {
  Cond c(" acl a path_beg /a\n acl b hdr(x) 1\n http-request deny if a b or !a ! b");
  EXPECT_TRUE(c.get("/a", {{"x", "1"}}));   // a and b
  EXPECT_FALSE(c.get("/a", {{"x", "2"}}));  // a, not b
  EXPECT_FALSE(c.get("/z", {{"x", "1"}}));  // not a, b
  EXPECT_TRUE(c.get("/z", {{"x", "2"}}));   // not a, not b
  Cond bars(" acl a path /a\n acl b path /b\n http-request deny if a || b");
  EXPECT_TRUE(bars.get("/b"));
  EXPECT_FALSE(bars.get("/c"));
  Cond doubled(" acl a path /a\n http-request deny if !!a");
  EXPECT_TRUE(doubled.get("/a"));
}

TEST(LbAcl, UnlessAndAnonymous) {
  Cond c(" http-request deny unless { src 10.0.0.0/8 } { path_beg /admin }");
  EXPECT_FALSE(c(request("GET", "/admin/x"), endpoints("10.0.0.1")));
  EXPECT_TRUE(c(request("GET", "/admin/x"), endpoints("11.0.0.1")));
  EXPECT_TRUE(c(request("GET", "/x"), endpoints("10.0.0.1")));
  Cond neg(" http-request deny if !{ path /a } ! { path /b }");
  EXPECT_FALSE(neg.get("/a"));
  EXPECT_FALSE(neg.get("/b"));
  EXPECT_TRUE(neg.get("/c"));
}

TEST(LbAcl, TrailingOrIsAccepted) {
  Cond c(" acl a path /a\n http-request deny if a or");  // haproxy 2.6 accepts this too
  EXPECT_TRUE(c.get("/a"));
  EXPECT_FALSE(c.get("/b"));
}

TEST(LbAcl, Predefined) {
  EXPECT_TRUE(Cond(" http-request deny if TRUE").get("/"));
  EXPECT_FALSE(Cond(" http-request deny if FALSE").get("/"));
  EXPECT_TRUE(Cond(" http-request deny if HTTP").get("/"));
  Cond get(" http-request deny if METH_GET");
  EXPECT_TRUE(get(request("HEAD", "/")));
  EXPECT_FALSE(get(request("POST", "/")));
  EXPECT_TRUE(Cond(" http-request deny if METH_POST")(request("POST", "/")));
  EXPECT_TRUE(Cond(" http-request deny if METH_OPTIONS")(request("OPTIONS", "/")));
  Cond local(" http-request deny if LOCALHOST");
  EXPECT_TRUE(local(request("GET", "/"), endpoints("127.0.0.9")));
  EXPECT_TRUE(local(request("GET", "/"), endpoints("::1")));
  EXPECT_FALSE(local(request("GET", "/"), endpoints("10.0.0.1")));
  Cond v10(" http-request deny if HTTP_1.0");
  EXPECT_TRUE(v10(request("GET", "/", {}, http1::Version::k10)));
  EXPECT_FALSE(v10(request("GET", "/")));
  EXPECT_TRUE(Cond(" http-request deny if HTTP_1.1").get("/"));
  EXPECT_TRUE(Cond(" http-request deny if HTTP_URL_ABS").get("http://h/x"));
  EXPECT_FALSE(Cond(" http-request deny if HTTP_URL_ABS").get("/x"));
  EXPECT_TRUE(Cond(" http-request deny if HTTP_URL_SLASH").get("/x"));
  EXPECT_TRUE(Cond(" http-request deny if HTTP_URL_STAR")(request("OPTIONS", "*")));
  Cond content(" http-request deny if HTTP_CONTENT");
  EXPECT_TRUE(content.get("/", {{"Content-Length", "3"}}));
  EXPECT_FALSE(content.get("/"));
}

TEST(LbAcl, ADeclaredAclOverridesAPredefinedOne) {
  Cond c(" acl TRUE path /t\n http-request deny if TRUE");  // haproxy 2.6 accepts this
  EXPECT_TRUE(c.get("/t"));
  EXPECT_FALSE(c.get("/u"));
}

TEST(LbAcl, SslFcIsFalseOnPlainConnections) {
  Cond c(" http-request deny unless { ssl_fc }");
  EXPECT_TRUE(c.get("/"));
  RequestContext tls = endpoints();
  tls.ssl = true;
  EXPECT_FALSE(c(request("GET", "/"), tls));
}

TEST(LbAcl, UseBackendSelection) {
  auto c = compile(
      " acl api path_beg /api\n use_backend b_api if api\n use_backend b_img if { path_end .png }\n"
      "backend b_api\n server a 127.0.0.1:1\nbackend b_img\n server a 127.0.0.1:1\nlisten z\n"
      " bind :1");
  ASSERT_FALSE(c->diags.has_errors()) << c->diags.to_string();
  auto ctx = endpoints();
  auto r = request("GET", "/api/x.png");
  ctx.request = &r;
  ASSERT_NE(c->rules.select_backend(ctx), nullptr);
  EXPECT_EQ(*c->rules.select_backend(ctx), "b_api");
  r.target = "/x.png";
  EXPECT_EQ(*c->rules.select_backend(ctx), "b_img");
  r.target = "/x";
  EXPECT_EQ(c->rules.select_backend(ctx), nullptr);
  // An adapter finds each compiled condition from the config's own Condition, also in a copy.
  Proxy copy = c->cfg.proxies.at(0);
  const CompiledCondition* second = c->rules.find_condition(*copy.use_backends.at(1).condition);
  ASSERT_NE(second, nullptr);
  r.target = "/y.png";
  EXPECT_TRUE(second->eval(ctx));
  EXPECT_EQ(c->rules.find_condition(Condition{}), nullptr);
}

TEST(LbAcl, IpAddrParsing) {
  EXPECT_EQ(IpAddr::parse("10.0.0.1"), IpAddr::v4(10, 0, 0, 1));
  EXPECT_TRUE(IpAddr::parse("::1")->v6);
  EXPECT_EQ(IpAddr::parse("::1")->to_string(), "::1");
  EXPECT_FALSE(IpAddr::parse("10.0.0"));
  EXPECT_FALSE(IpAddr::parse(""));
}

// ---------------------------------------------------------------------------------------------
// Configuration errors: exact text and location.

TEST(LbAcl, UnknownCriterionSuggests) {
  auto c = compile(" acl a1 path_bge /x");
  ASSERT_THAT(brief(c->diags), ElementsAre("8:9: error: unknown ACL criterion 'path_bge'"));
  EXPECT_EQ(c->diags.all()[0].hint, "did you mean 'path_beg'?");
  auto cook = compile(" acl a1 req.cook(x) y");
  EXPECT_THAT(cook->diags.all().at(0).hint, ::testing::StartsWith("not supported by tandem-lb"));
}

TEST(LbAcl, BadValuesAreErrorsAtTheirWord) {
  EXPECT_THAT(errors_of(" acl a2 path_reg (["),
              ElementsAre("8:18: error: regex '([' is invalid: Invalid regular expression"));
  EXPECT_THAT(errors_of(" acl a3 src 10.0.0.1 10.0.0.0/33"),
              ElementsAre("8:22: error: '10.0.0.0/33' is not a valid IPv4 or IPv6 address"));
  EXPECT_THAT(
      errors_of(" acl a3 src 10.0.0.0/255.0.255.0"),
      ElementsAre("8:13: error: '10.0.0.0/255.0.255.0' is not a valid IPv4 or IPv6 address"));
  auto host = compile(" acl a3 src localhost");
  EXPECT_EQ(host->diags.all().at(0).hint,
            "tandem-lb does not resolve host names in ACLs; write an address");
  EXPECT_THAT(errors_of(" acl a4 dst_port 80:x"),
              ElementsAre("8:18: error: '80:x' is not a valid number range"));
  EXPECT_THAT(errors_of(" acl a4 dst_port 90:80"),
              ElementsAre("8:18: error: '90:80' is not a valid number range"));
  EXPECT_THAT(errors_of(" acl a4 dst_port http"),
              ElementsAre("8:18: error: 'http' is not a valid number"));
  EXPECT_THAT(errors_of(" acl a4 dst_port gt"),
              ElementsAre("8:18: error: missing a number after 'gt'"));
}

TEST(LbAcl, PcreOnlyRegexIsRefused) {
  // glibc's POSIX regex would read "\d" as "d" and silently never match digits.
  auto c = compile(" acl a path_reg ^/\\d+$");
  ASSERT_THAT(
      brief(c->diags),
      ElementsAre("8:17: error: regex '^/\\d+$' uses '\\d', which POSIX regular expressions "
                  "lack"));
  EXPECT_THAT(
      errors_of(" acl a path_reg ^(?:a|b)"),
      ElementsAre("8:17: error: regex '^(?:a|b)' uses '(?', which POSIX regular expressions "
                  "lack"));
  EXPECT_THAT(errors_of(" acl a path_reg ^a.*?b"),
              ElementsAre("8:17: error: regex '^a.*?b' uses the lazy quantifier '*?', which POSIX "
                          "regular expressions lack"));
  EXPECT_THAT(errors_of(" acl a path_reg ^\\w+\\.x$"), IsEmpty());  // GNU supports \w
}

TEST(LbAcl, FlagErrors) {
  EXPECT_THAT(errors_of(" acl a8 path -x foo"),
              ElementsAre("8:14: error: '-x' is not a valid ACL flag"));
  EXPECT_THAT(errors_of(" acl a8 path -m foo /x"),
              ElementsAre("8:17: error: unknown match method 'foo'"));
  EXPECT_THAT(errors_of(" acl a8 path -m"), ElementsAre("8:14: error: '-m' needs a match method"));
  EXPECT_THAT(errors_of(" acl a7 src -f /etc/haproxy/list"),
              ElementsAre("8:13: error: ACL flag '-f' is not supported by tandem-lb"));
  EXPECT_THAT(errors_of(" acl a7 dst_port -m ip 10.0.0.0/8"),
              ElementsAre("8:9: error: '-m ip' cannot match 'dst_port', an integer"));
}

TEST(LbAcl, FetchArgumentErrors) {
  EXPECT_THAT(errors_of(" acl a hdr() x"),
              ElementsAre("8:8: error: 'hdr' needs a header name, e.g. 'hdr(host)'"));
  EXPECT_THAT(errors_of(" acl a hdr(host x"),
              ElementsAre("8:8: error: missing ')' after the arguments of 'hdr'"));
  EXPECT_THAT(errors_of(" acl a path(x) /"), ElementsAre("8:8: error: 'path' takes no arguments"));
  EXPECT_THAT(errors_of(" acl a hdr(x,y) z"),
              ElementsAre("8:8: error: invalid occurrence 'y' in 'hdr(x,y)'"));
}

TEST(LbAcl, NoValuesWarnsLikeHaproxy) {
  auto c = compile(" acl a4 hdr(host)\n http-request deny if a4");
  ASSERT_THAT(
      brief(c->diags),
      ElementsAre("8:9: warning: no value to match against was given, so this ACL will never "
                  "match"));
  EXPECT_FALSE(c->diags.has_errors());
  EXPECT_THAT(errors_of(" acl a4 hdr(host) --"), IsEmpty());
  EXPECT_THAT(errors_of(" acl a4 path -m found /x"),
              ElementsAre("8:23: warning: values are ignored with '-m found'"));
}

TEST(LbAcl, ConditionErrors) {
  EXPECT_THAT(errors_of(" http-request deny if nodecl"),
              ElementsAre("8:23: error: no such ACL: 'nodecl'"));
  auto typo = compile(" acl is_api path_beg /api\n http-request deny if is_apj");
  EXPECT_EQ(typo->diags.all().at(0).hint, "did you mean 'is_api'?");
  auto fetch = compile(" http-request deny if path_beg");
  EXPECT_EQ(fetch->diags.all().at(0).hint,
            "to test 'path_beg' directly, write an anonymous ACL: '{ path_beg ... }'");
  EXPECT_THAT(
      errors_of(" http-request deny if { path_beg /a"),
      ElementsAre("8:23: error: missing closing '}' in the condition of 'http-request deny'"));
  EXPECT_THAT(errors_of(" http-request deny if { }"),
              ElementsAre("8:23: error: empty anonymous ACL '{ }'"));
  EXPECT_THAT(errors_of(" http-request deny if { path_bge /a }"),
              ElementsAre("8:25: error: unknown ACL criterion 'path_bge'"));
  EXPECT_THAT(errors_of(" use_backend x if nope\nbackend x\n server a 127.0.0.1:1"),
              ElementsAre("8:19: error: no such ACL: 'nope'"));
  EXPECT_THAT(errors_of(" http-request deny if WAIT_END"),
              ElementsAre("8:23: error: predefined ACL 'WAIT_END' is not supported by tandem-lb"));
}

TEST(LbAcl, UseBeforeDeclarationIsAnErrorAsInHaproxy) {
  // haproxy 2.6: "no such ACL : 'fwd'" when the acl line comes after the rule.
  EXPECT_THAT(errors_of(" http-request deny if fwd\n acl fwd path /f"),
              ElementsAre("8:23: error: acl 'fwd' is used before it is declared (line 9)"));
}

TEST(LbAcl, AFailedAclGivesNoSecondError) {
  EXPECT_THAT(errors_of(" acl bad path_reg ([\n http-request deny if bad"),
              ElementsAre("8:19: error: regex '([' is invalid: Invalid regular expression"));
}

TEST(LbAcl, StageWarnings) {
  // haproxy 2.6 warns "will never match" for `path` in http-response and `status` in
  // http-request, and accepts the configuration.
  auto c = compile(" http-response deny if { path /a }\n http-request deny if { status 200 }");
  EXPECT_FALSE(c->diags.has_errors());
  EXPECT_THAT(brief(c->diags),
              ElementsAre("9:23: warning: anonymous acl will never match in 'http-request deny': "
                          "'status' is not available while processing the request",
                          "8:24: warning: anonymous acl will never match in 'http-response deny': "
                          "'path' is not available while processing the response"));
  auto named = compile(" acl st status 200\n http-request deny if st");
  EXPECT_THAT(
      brief(named->diags),
      ElementsAre("9:23: warning: acl 'st' will never match in 'http-request deny': its criteria "
                  "are not available while processing the request"));
}

TEST(LbAcl, CriteriaListIsComplete) {
  auto all = acl_criteria();
  for (std::string_view k : {"path", "path_beg", "path_end", "path_reg", "path_sub", "path_dir",
                             "hdr", "hdr_beg", "hdr_end", "hdr_sub", "hdr_reg", "hdr_cnt", "method",
                             "src", "dst_port", "status", "shdr_sub", "url_beg"}) {
    EXPECT_NE(std::find(all.begin(), all.end(), k), all.end()) << k;
  }
  EXPECT_EQ(predefined_acls().size(), 19u);
}

}  // namespace
}  // namespace tandem::lb
