// The stats page: URI options, basic auth, the HTML, ;csv, and the admin form's POST.
#include "lb/stats/page.h"

#include <gtest/gtest.h>

#include "lb/stats/csv.h"
#include "sample_view.h"

namespace tandem::lb::stats {
namespace {

using testing::FakeTarget;
using testing::sample_view;

std::string header(const HttpReply& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

StatsPage page_config() {
  StatsPage c;
  c.enabled = true;
  c.uri = "/stats";
  c.refresh = Duration(5000);
  return c;
}

TEST(StatsPage, MatchesTheUriAndItsOptions) {
  EXPECT_FALSE(match_stats_uri("/other", "/stats"));
  EXPECT_FALSE(match_stats_uri("/stat", "/stats"));
  auto r = match_stats_uri("/stats", "/stats");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->csv);
  r = match_stats_uri("/stats;csv;norefresh", "/stats");
  EXPECT_TRUE(r->csv && r->no_refresh && !r->up_only);
  r = match_stats_uri("/haproxy?stats;up;st=DONE", "/haproxy?stats");
  EXPECT_TRUE(r->up_only);
  EXPECT_EQ(r->status, "DONE");
}

TEST(StatsPage, BasicAuth) {
  const std::vector<std::pair<std::string, std::string>> users = {{"admin", "secret"},
                                                                  {"ops", "p:w"}};
  EXPECT_TRUE(check_basic_auth("", {}));
  EXPECT_FALSE(check_basic_auth("", users));
  EXPECT_TRUE(check_basic_auth("Basic YWRtaW46c2VjcmV0", users));   // admin:secret
  EXPECT_TRUE(check_basic_auth("basic  b3BzOnA6dw==", users));      // ops:p:w
  EXPECT_FALSE(check_basic_auth("Basic YWRtaW46c2VjcmV1", users));  // admin:secreu
  EXPECT_FALSE(check_basic_auth("Basic !!!", users));
  EXPECT_FALSE(check_basic_auth("Bearer YWRtaW46c2VjcmV0", users));

  StatsPage c = page_config();
  c.auth = users;
  c.realm = "Ops only";
  const auto reply =
      serve_stats_page(c, {.method = "GET", .target = "/stats"}, sample_view(), nullptr);
  EXPECT_EQ(reply.status, 401);
  EXPECT_EQ(header(reply, "www-authenticate"), "Basic realm=\"Ops only\"");
  const auto ok = serve_stats_page(
      c, {.method = "GET", .target = "/stats", .authorization = "Basic YWRtaW46c2VjcmV0"},
      sample_view(), nullptr);
  EXPECT_EQ(ok.status, 200);
}

TEST(StatsPage, HtmlIsOneSelfContainedDocument) {
  StatsView v = sample_view();
  v.proxies[1].servers[0].traffic.bytes_in = 123456789;
  const auto reply =
      serve_stats_page(page_config(), {.method = "GET", .target = "/stats"}, v, nullptr);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(header(reply, "content-type"), "text/html");
  EXPECT_EQ(header(reply, "refresh"), "5");
  const std::string& html = reply.body;
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(html.ends_with("</body></html>\n"));
  EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"5\">"), std::string::npos);
  for (const char* external : {"<script", "<link", "src=", "http://", "https://", "url("}) {
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  }
  for (const char* piece :
       {"<h2>fe</h2>", "<h2>be</h2>", "<h2>tc</h2>", "<tr class=down>", "<tr class=maint>",
        "<tr class=nocheck>", "<tr class=goingdown>", "L4CON: Connection refused", "117.7M",
        "<td>DOWN</td>", "<td>MAINT</td>", "<td>UP 1/2</td>", "s3 (backup)", "version 0.1.0"}) {
    EXPECT_NE(html.find(piece), std::string::npos) << piece;
  }
  EXPECT_EQ(html.find("<form"), std::string::npos);  // no admin
  size_t tables = 0;
  for (size_t p = html.find("<table"); p != std::string::npos; p = html.find("<table", p + 1)) {
    ++tables;
  }
  EXPECT_EQ(tables, 4u);  // one per proxy

  StatsPage hidden = page_config();
  hidden.hide_version = true;
  const auto h = serve_stats_page(hidden, {.method = "GET", .target = "/stats;norefresh"},
                                  sample_view(), nullptr);
  EXPECT_EQ(h.body.find("0.1.0"), std::string::npos);
  EXPECT_EQ(h.body.find("http-equiv=\"refresh\""), std::string::npos);
  EXPECT_EQ(header(h, "refresh"), "");
}

TEST(StatsPage, EscapesNames) {
  StatsView v = sample_view();
  v.proxies[1].servers[0].name = "<b>&";
  const std::string html = render_html(v, {});
  EXPECT_EQ(html.find("<b>&"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;&amp;"), std::string::npos);
}

TEST(StatsPage, UpOnlyHidesServersNotUp) {
  const auto reply = serve_stats_page(page_config(), {.method = "GET", .target = "/stats;up"},
                                      sample_view(), nullptr);
  EXPECT_EQ(reply.body.find(">s1<"), std::string::npos);
  EXPECT_NE(reply.body.find(">s3 (backup)<"), std::string::npos);
}

TEST(StatsPage, CsvSuffix) {
  const auto reply = serve_stats_page(page_config(), {.method = "GET", .target = "/stats;csv"},
                                      sample_view(), nullptr);
  EXPECT_EQ(header(reply, "content-type"), "text/plain");
  EXPECT_TRUE(reply.body.starts_with(csv_header()));
  EXPECT_EQ(reply.body.find("127.0.0.1:9"), std::string::npos);  // no legends over HTTP
}

TEST(StatsPage, AdminFormsWhenAllowed) {
  FakeTarget target(sample_view());
  const auto reply =
      serve_stats_page(page_config(), {.method = "GET", .target = "/stats", .admin_allowed = true},
                       sample_view(), &target);
  const std::string& html = reply.body;
  EXPECT_NE(html.find("<form method=post action=\"/stats\">"), std::string::npos);
  EXPECT_NE(html.find("<input type=checkbox name=s value=\"s1\">"), std::string::npos);
  EXPECT_NE(html.find("<option value=\"drain\">Set state to DRAIN</option>"), std::string::npos);
  EXPECT_NE(html.find("<option value=\"maint\">Set state to MAINT</option>"), std::string::npos);
  EXPECT_NE(html.find("<option value=\"ready\">Set state to READY</option>"), std::string::npos);
  EXPECT_NE(html.find("<input type=hidden name=b value=\"#3\">"), std::string::npos);
  size_t forms = 0;
  for (size_t p = html.find("<form"); p != std::string::npos; p = html.find("<form", p + 1)) {
    ++forms;
  }
  EXPECT_EQ(forms, 3u);  // be, li, tc: not the frontend
}

TEST(StatsPage, ParsesThePostBody) {
  const AdminPost p = parse_admin_post("s=s1&s=a%2Fb+c&action=drain&b=%233&x=1&junk");
  EXPECT_EQ(p.backend, "#3");
  EXPECT_EQ(p.servers, (std::vector<std::string>{"s1", "a/b c"}));
  EXPECT_EQ(p.action, "drain");
}

// The results haproxy 2.6 gives to the same posts (see the capture notes in the docs).
TEST(StatsPage, PostAppliesActionsAndRedirectsAsHaproxy) {
  struct Case {
    std::string body;
    bool allowed;
    std::string location;
    std::string log;
  };
  const std::vector<Case> cases = {
      {"s=s1&action=drain&b=%233", true, "/stats;st=DONE", "state be/s1 drain;"},
      {"b=%233&action=ready&s=s1", true, "/stats;st=DONE", "state be/s1 ready;"},
      {"s=s1&action=maint&b=be", true, "/stats;st=DONE", "state be/s1 maint;"},
      {"s=s1&s=s3&action=shutdown&b=be", true, "/stats;st=DONE", "shutdown be/s1;shutdown be/s3;"},
      {"s=s1&s=nope&action=drain&b=%233", true, "/stats;st=PART", "state be/s1 drain;"},
      {"s=nope&action=drain&b=%233", true, "/stats;st=ERRP", ""},
      {"s=s1&action=zz&b=%233", true, "/stats;st=ERRP", ""},
      {"s=s1&action=hdown&b=%233", true, "/stats;st=ERRP", ""},  // not supported
      {"s=s1&action=drain&b=%239", true, "/stats;st=ERRP", ""},
      {"s=s1&action=drain&b=%232", true, "/stats;st=ERRP", ""},  // a frontend
      {"action=drain&b=%233", true, "/stats;st=NONE", ""},
      {"s=s1&action=drain", true, "/stats;st=NONE", ""},
      {"s=s1&b=%233", true, "/stats;st=NONE", ""},
      {"s=s1&action=drain&b=%233", false, "/stats;st=DENY", ""},
  };
  for (const auto& c : cases) {
    FakeTarget target(sample_view());
    const auto reply = serve_stats_page(
        page_config(),
        {.method = "POST", .target = "/stats", .body = c.body, .admin_allowed = c.allowed},
        sample_view(), &target);
    EXPECT_EQ(reply.status, 303) << c.body;
    EXPECT_EQ(header(reply, "location"), c.location) << c.body;
    EXPECT_EQ(target.log(), c.log) << c.body;
  }
}

TEST(StatsPage, ShowsTheResultOfTheLastAction) {
  const auto reply = serve_stats_page(page_config(), {.method = "GET", .target = "/stats;st=PART"},
                                      sample_view(), nullptr);
  EXPECT_NE(reply.body.find("Action partially processed."), std::string::npos);
  EXPECT_EQ(admin_status_text("DONE"), "Action processed successfully.");
  EXPECT_EQ(admin_status_text("ERRP"), "Action not processed because of invalid parameters.");
  EXPECT_EQ(admin_status_text("what"), "Unexpected result.");
}

}  // namespace
}  // namespace tandem::lb::stats

namespace tandem::lb::stats {
namespace {

TEST(StatsPage, RepliesAsBytes) {
  HttpReply r;
  r.status = 303;
  r.headers = {{"location", "/stats;st=DONE"}};
  EXPECT_EQ(to_http_response(r, true),
            "HTTP/1.1 303 See Other\r\nlocation: /stats;st=DONE\r\ncontent-length: 0\r\n"
            "connection: close\r\n\r\n");
  r = prometheus_reply(testing::sample_view());
  EXPECT_EQ(r.status, 200);
  const std::string bytes = to_http_response(r, false);
  EXPECT_NE(bytes.find("content-type: text/plain; version=0.0.4\r\n"), std::string::npos);
  EXPECT_NE(bytes.find(fmt::format("content-length: {}\r\n", r.body.size())), std::string::npos);
  EXPECT_TRUE(bytes.ends_with(r.body));
  const std::string head = to_http_response(r, false, true);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
  EXPECT_NE(head.find(fmt::format("content-length: {}\r\n", r.body.size())), std::string::npos);
}

}  // namespace
}  // namespace tandem::lb::stats
