// The http-request / http-response rule executor: a proxy's rules compiled once, then applied
// in order to one head, returning what to answer (continue, deny, redirect, return, service).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostic.h"
#include "lb/acl.h"
#include "lb/config.h"
#include "lb/http1.h"

namespace tandem::lb {

// A log-format string as used in header values, redirect targets and lf-string bodies. The
// subset supported: literal text, "%%" (a '%') and "%[FETCH]" with the ACL engine's fetches
// (src, dst_port, path, hdr(host), method, status, ...), without converters. Every other
// form (%ci, %T, %{+Q}o, %[src,lower]) is a configuration error.
class LogFormat {
 public:
  // `what` names the place in messages ("http-request set-header value").
  static std::optional<LogFormat> compile(std::string_view text, Stage stage,
                                          const core::SourceLocation& where, std::string_view what,
                                          core::Diagnostics& diags);
  static LogFormat literal(std::string text);

  // Appends the value; a fetch that finds nothing adds nothing, as haproxy.
  void render(const RequestContext& ctx, std::string& out) const;
  bool is_literal() const { return parts_.size() <= 1 && (parts_.empty() || !parts_[0].fetch); }

 private:
  struct Part {
    std::string text;                  // literal text, when fetch is empty
    std::optional<SampleFetch> fetch;  // %[fetch]
  };
  std::vector<Part> parts_;
};

// What the rules decided. kContinue: forward the (possibly rewritten) message.
struct Outcome {
  enum class Kind : uint8_t { kContinue, kDeny, kRedirect, kReturn, kService };
  Kind kind = Kind::kContinue;
  uint16_t status = 0;                   // kDeny, kRedirect, kReturn
  std::string location;                  // kRedirect
  std::vector<std::string> set_cookies;  // kRedirect: Set-Cookie values
  std::string content_type;              // kReturn: empty unless there is a body
  std::optional<std::string> body;       // kReturn: none means an empty payload
  std::string service;                   // kService: "prometheus-exporter"
  bool allowed = false;                  // kContinue after an `allow` rule stopped the list
};

// One compiled rule.
struct CompiledHttpRule {
  HttpRule::Action action = HttpRule::Action::kAllow;
  std::string header;  // set/add/del-header
  LogFormat value;     // set/add-header value, redirect target, return lf-string body
  uint16_t status = 0;
  HttpRule::RedirectKind redirect = HttpRule::RedirectKind::kLocation;
  bool drop_query = false;
  bool append_slash = false;
  std::vector<std::string> set_cookies;  // "NAME=v; path=/;" or "NAME=; path=/; Max-Age=0;"
  std::string content_type;
  std::optional<LogFormat> body;
  std::string service;
  std::optional<CompiledCondition> condition;
  core::SourceLocation where;
};

// An ordered list of http-request or http-response rules.
class HttpRules {
 public:
  // Errors (bad conditions, unsupported log-format forms, deny_status without an error page)
  // go to diags; the rules that fail are left out.
  static HttpRules compile(const std::vector<HttpRule>& rules, Stage stage, const AclSet& acls,
                           core::Diagnostics& diags);

  // Applies the rules in order to `head` (the request for kRequest rules, the response for
  // kResponse ones), stopping at the first final action (allow, deny, redirect, return,
  // use-service). Conditions see the rewrites of earlier rules. `ctx` gives the endpoints and,
  // for response rules, the request; its head pointer for this stage is replaced by `head`.
  Outcome run(http1::Head& head, const RequestContext& ctx) const;

  size_t size() const { return rules_.size(); }
  bool empty() const { return rules_.empty(); }

 private:
  Stage stage_ = Stage::kRequest;
  std::vector<CompiledHttpRule> rules_;
};

struct CompiledBackendRule {
  std::string backend;
  std::optional<CompiledCondition> condition;  // none: always
  core::SourceLocation where;                  // the rule
  core::SourceLocation condition_where;        // its if/unless word
};

// Everything of a proxy section that is evaluated per request, compiled and checked at once.
struct ProxyRules {
  AclSet acls;
  HttpRules http_request, http_response;
  std::vector<CompiledBackendRule> use_backends;
  std::optional<CompiledCondition> stats_admin;
  core::SourceLocation stats_admin_where;

  static ProxyRules compile(const Proxy& proxy, core::Diagnostics& diags);
  // The backend of the first use_backend rule whose condition holds; nullptr: the default.
  const std::string* select_backend(const RequestContext& ctx) const;
  // The compiled form of one of this proxy's use_backend or stats admin conditions, found by
  // where its if/unless was written (so a copied Config still finds it); for adapters such as
  // proxy::ConditionHook. nullptr when unknown.
  const CompiledCondition* find_condition(const Condition& cond) const;
};

// haproxy 2.6's built-in error responses (status line, headers, HTML body), byte for byte
// as it sends them; exists for 200, 400, 403, 404, 405, 408, 410, 413, 425, 429, 500, 501,
// 502, 503 and 504, empty otherwise. These are also the statuses `deny_status` accepts.
std::string_view default_error_response(int status);

// The standard reason phrase haproxy writes for a status ("Found", "Forbidden"); "Unknown".
std::string_view reason_phrase(int status);

// The bytes haproxy answers for a final outcome: a deny's default error page, a redirect
// (content-length 0, location, cache-control for 302/303/307, set-cookie), or a return (a
// dummy response without a body). `close` adds "connection: close" when it is missing.
// kContinue and kService give an empty string.
std::string render_response(const Outcome& outcome, bool close);

}  // namespace tandem::lb
