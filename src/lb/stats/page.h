// The HTTP stats page of a frontend (`stats enable`, `stats uri`, ...): which request is for
// it, basic authentication, the HTML page, `;csv`, and the admin form's POST, as haproxy 2.6
// serves them. Pure: the run-time passes the request in and writes the reply out.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lb/config.h"
#include "lb/stats/admin_api.h"
#include "lb/stats/view.h"

namespace tandem::lb::stats {

// What a request under the stats URI asks for: "URI[;csv][;up][;norefresh][;st=CODE]".
struct PageRequest {
  bool csv = false;
  bool up_only = false;
  bool no_refresh = false;
  std::string status;  // st=DONE, PART, NONE, DENY, ERRP, EXCD, UNKN: the last admin result
};
// Unset when `target` does not start with the stats URI (haproxy matches a prefix).
std::optional<PageRequest> match_stats_uri(std::string_view target, std::string_view uri);

// `stats auth`: true when `authorization` (the header's value) carries one of the pairs as
// "Basic base64(user:password)". Always true without `stats auth` lines.
bool check_basic_auth(std::string_view authorization,
                      const std::vector<std::pair<std::string, std::string>>& users);

// One action of the admin form: haproxy's field names, "b=#IID|NAME&s=SRV&...&action=ACT".
struct AdminPost {
  std::string backend;               // a name, or "#iid"
  std::vector<std::string> servers;  // in the order posted
  std::string action;                // ready, drain, maint, shutdown, ... as haproxy's <select>
};
// Decodes an application/x-www-form-urlencoded body. Fields other than b, s, action are ignored.
AdminPost parse_admin_post(std::string_view body);

// What the page result code means (shown in the banner after an admin action).
std::string_view admin_status_text(std::string_view code);

struct PageOptions {
  std::string uri = "/haproxy?stats";  // the stats URI (links and the form's target)
  std::optional<Duration> refresh;     // `stats refresh`, unless the request said ;norefresh
  bool admin = false;                  // show the admin forms (`stats admin` allowed it)
  bool hide_version = false;
  bool up_only = false;
  std::string status;  // st=...: the banner to show
};
// The whole page: one self-contained HTML document (inline CSS, no external resource).
std::string render_html(const StatsView& view, const PageOptions& options);

// An answer for the run-time to send as is (it adds Content-Length, Connection).
struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A request to the stats page, as the run-time received it.
struct PageInput {
  std::string_view method;         // "GET", "HEAD", "POST"
  std::string_view target;         // the request target
  std::string_view authorization;  // the Authorization header's value, empty when absent
  std::string_view body;           // POST body
  bool admin_allowed = false;      // `stats admin if COND` held for this request
};

// Serves a request already matched by match_stats_uri: 401 without valid credentials; a POST
// applies the admin actions through `target` (when allowed) and answers 303 to URI;st=CODE;
// otherwise the HTML page or the CSV.
HttpReply serve_stats_page(const StatsPage& config, const PageInput& input, const StatsView& view,
                           AdminTarget* target);

// The reply of `http-request use-service prometheus-exporter`: 200, text/plain; version=0.0.4.
HttpReply prometheus_reply(const StatsView& view);

// The reply as bytes: "HTTP/1.1 <status> <reason>", its headers, content-length, and
// "connection: close" when `close`; no body for HEAD.
std::string to_http_response(const HttpReply& reply, bool close, bool head = false);

}  // namespace tandem::lb::stats
