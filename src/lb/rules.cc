// The http-request / http-response rule executor, haproxy's redirect construction and its
// built-in error responses.
#include "lb/rules.h"

#include <fmt/format.h>

#include <algorithm>

namespace tandem::lb {

using core::Diagnostics;

// ---------------------------------------------------------------------------------------------
// Log-format subset.

namespace {

constexpr std::string_view kLogFormatHint =
    "tandem-lb supports literal text, '%%' and '%[FETCH]' with fetches such as src, dst, "
    "src_port, dst_port, method, path, url, query, hdr(NAME), status; no converters";

std::string stage_text(Stage s) {
  return s == Stage::kRequest ? "request" : "response";
}

}  // namespace

LogFormat LogFormat::literal(std::string text) {
  LogFormat f;
  if (!text.empty()) f.parts_.push_back({std::move(text), std::nullopt});
  return f;
}

std::optional<LogFormat> LogFormat::compile(std::string_view text, Stage stage,
                                            const core::SourceLocation& where,
                                            std::string_view what, Diagnostics& d) {
  LogFormat f;
  std::string lit;
  auto flush = [&] {
    if (!lit.empty()) f.parts_.push_back({std::move(lit), std::nullopt});
    lit.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      lit += text[i];
      continue;
    }
    if (i + 1 >= text.size()) {
      d.error(where, fmt::format("{}: truncated '%' at the end of '{}'", what, text),
              "write '%%' for a literal '%'");
      return std::nullopt;
    }
    if (text[i + 1] == '%') {
      lit += '%';
      ++i;
      continue;
    }
    if (text[i + 1] != '[') {
      // %ci, %T, %{+Q}o, ...: haproxy's log variables.
      size_t end = i + 1;
      if (text[end] == '{') {
        auto close = text.find('}', end);
        end = close == std::string_view::npos ? text.size() : close + 1;
      }
      while (end < text.size() && std::isalpha(static_cast<unsigned char>(text[end]))) ++end;
      d.error(where,
              fmt::format("{}: log-format variable '{}' is not supported by tandem-lb", what,
                          text.substr(i, std::max<size_t>(end - i, 2))),
              std::string(kLogFormatHint));
      return std::nullopt;
    }
    auto close = text.find(']', i + 2);
    if (close == std::string_view::npos) {
      d.error(where, fmt::format("{}: missing ']' after '{}'", what, text.substr(i)));
      return std::nullopt;
    }
    std::string_view expr = text.substr(i + 2, close - i - 2);
    // A converter follows the fetch after a comma outside its parentheses.
    int depth = 0;
    for (size_t k = 0; k < expr.size(); ++k) {
      if (expr[k] == '(') ++depth;
      if (expr[k] == ')') --depth;
      if (expr[k] == ',' && depth == 0) {
        d.error(where,
                fmt::format("{}: converters ('{}') are not supported by tandem-lb", what,
                            expr.substr(k + 1)),
                std::string(kLogFormatHint));
        return std::nullopt;
      }
    }
    std::string error;
    auto fetch = SampleFetch::parse(expr, error);
    if (!fetch) {
      d.error(where, fmt::format("{}: in '%[{}]': {}", what, expr, error),
              std::string(kLogFormatHint));
      return std::nullopt;
    }
    if (!fetch->available(stage)) {
      d.error(where, fmt::format("{}: '{}' is not available while processing the {}", what,
                                 fetch->name, stage_text(stage)));
      return std::nullopt;
    }
    flush();
    f.parts_.push_back({{}, std::move(*fetch)});
    i = close;
  }
  flush();
  return f;
}

void LogFormat::render(const RequestContext& ctx, std::string& out) const {
  for (const auto& p : parts_) {
    if (p.fetch) {
      p.fetch->append_text(ctx, out);
    } else {
      out += p.text;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Error pages and reasons. The bytes were captured from haproxy 2.6.12 (Debian 12) answering
// `http-request deny deny_status N` with no errorfile configured.

namespace {

struct ErrorPage {
  int status;
  std::string_view bytes;
};

#define TANDEM_ERR(code, reason, len, extra, text)                                                \
  "HTTP/1.1 " #code " " reason "\r\ncontent-length: " #len                                        \
  "\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n" extra "\r\n<html><body><h1>" #code \
  " " reason "</h1>\n" text "\n</body></html>\n"

constexpr ErrorPage kErrorPages[] = {
    {200, TANDEM_ERR(200, "OK", 58, "", "Service ready.")},
    {400, TANDEM_ERR(400, "Bad request", 90, "connection: close\r\n",
                     "Your browser sent an invalid request.")},
    {403, TANDEM_ERR(403, "Forbidden", 93, "", "Request forbidden by administrative rules.")},
    {404, TANDEM_ERR(404, "Not Found", 83, "", "The resource could not be found.")},
    {405, TANDEM_ERR(405, "Method Not Allowed", 146, "",
                     "A request was made of a resource using a request method not supported by "
                     "that resource")},
    {408, TANDEM_ERR(408, "Request Time-out", 110, "connection: close\r\n",
                     "Your browser didn't send a complete request in time.")},
    {410, TANDEM_ERR(410, "Gone", 114, "",
                     "The resource is no longer available and will not be available again.")},
    {413, TANDEM_ERR(413, "Payload Too Large", 106, "",
                     "The request entity exceeds the maximum allowed.")},
    {425, TANDEM_ERR(425, "Too Early", 80, "", "Your browser sent early data.")},
    {429, TANDEM_ERR(429, "Too Many Requests", 117, "",
                     "You have sent too many requests in a given amount of time.")},
    {500, TANDEM_ERR(500, "Internal Server Error", 97, "", "An internal server error occurred.")},
    {501, TANDEM_ERR(501, "Not Implemented", 136, "",
                     ".The server does not support the functionality required to fulfill the "
                     "request.")},
    {502, TANDEM_ERR(502, "Bad Gateway", 107, "",
                     "The server returned an invalid or incomplete response.")},
    {503, TANDEM_ERR(503, "Service Unavailable", 107, "",
                     "No server is available to handle this request.")},
    {504, TANDEM_ERR(504, "Gateway Time-out", 92, "", "The server didn't respond in time.")},
};

#undef TANDEM_ERR

constexpr std::string_view kErrorStatuses =
    "200, 400, 403, 404, 405, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504";

}  // namespace

std::string_view default_error_response(int status) {
  for (const auto& p : kErrorPages)
    if (p.status == status) return p.bytes;
  return {};
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return "Unknown";
  }
}

std::string render_response(const Outcome& o, bool close) {
  std::string out;
  switch (o.kind) {
    case Outcome::Kind::kContinue:
    case Outcome::Kind::kService:
      return out;
    case Outcome::Kind::kDeny: {
      std::string_view page = default_error_response(o.status);
      if (page.empty()) page = default_error_response(403);  // compile refuses other statuses
      out = page;
      if (close && out.find("\r\nconnection: close\r\n") == std::string::npos)
        out.insert(out.find("\r\n\r\n") + 2, "connection: close\r\n");
      return out;
    }
    case Outcome::Kind::kRedirect:
      // Measured on haproxy 2.6: cache-control only for 302, 303 and 307; set-cookie last.
      out = fmt::format("HTTP/1.1 {} {}\r\ncontent-length: 0\r\nlocation: {}\r\n", o.status,
                        reason_phrase(o.status), o.location);
      if (o.status == 302 || o.status == 303 || o.status == 307)
        out += "cache-control: no-cache\r\n";
      for (const auto& c : o.set_cookies) out += fmt::format("set-cookie: {}\r\n", c);
      break;
    case Outcome::Kind::kReturn: {
      out = fmt::format("HTTP/1.1 {} {}\r\n", o.status, reason_phrase(o.status));
      // haproxy sends no content-length with 204 and 304 (measured: `return status 204`).
      if (o.status != 204 && o.status != 304)
        out += fmt::format("content-length: {}\r\n", o.body ? o.body->size() : 0);
      if (o.body && !o.content_type.empty())
        out += fmt::format("content-type: {}\r\n", o.content_type);
      break;
    }
  }
  if (close) out += "connection: close\r\n";
  out += "\r\n";
  if (o.kind == Outcome::Kind::kReturn && o.body) out += *o.body;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Compiling rules.

namespace {

std::string_view action_name(HttpRule::Action a) {
  switch (a) {
    case HttpRule::Action::kAllow:
      return "allow";
    case HttpRule::Action::kDeny:
      return "deny";
    case HttpRule::Action::kSetHeader:
      return "set-header";
    case HttpRule::Action::kAddHeader:
      return "add-header";
    case HttpRule::Action::kDelHeader:
      return "del-header";
    case HttpRule::Action::kRedirect:
      return "redirect";
    case HttpRule::Action::kReturn:
      return "return";
    case HttpRule::Action::kUseService:
      return "use-service";
  }
  return "?";
}

std::optional<CompiledHttpRule> compile_rule(const HttpRule& r, Stage stage, const AclSet& acls,
                                             Diagnostics& d) {
  const std::string rule = fmt::format(
      "{} {}", stage == Stage::kRequest ? "http-request" : "http-response", action_name(r.action));
  CompiledHttpRule c;
  c.action = r.action;
  c.header = r.header;
  c.status = r.status;
  c.redirect = r.redirect;
  c.content_type = r.content_type;
  c.service = r.service;
  c.where = r.where;
  bool ok = true;
  auto lf = [&](const std::string& text, std::string_view what) -> std::optional<LogFormat> {
    auto f = LogFormat::compile(text, stage, r.where, fmt::format("{} {}", rule, what), d);
    if (!f) ok = false;
    return f;
  };
  switch (r.action) {
    case HttpRule::Action::kSetHeader:
    case HttpRule::Action::kAddHeader:
      if (auto f = lf(r.value, "value")) c.value = std::move(*f);
      break;
    case HttpRule::Action::kDeny:
      if (default_error_response(r.status).empty()) {
        d.error(r.where,
                fmt::format("deny_status {} has no error page in tandem-lb (nor by default in "
                            "haproxy)",
                            r.status),
                fmt::format("use one of {}, or 'http-request return status {}'", kErrorStatuses,
                            r.status));
        ok = false;
      }
      break;
    case HttpRule::Action::kRedirect:
      if (auto f = lf(r.value, "target")) c.value = std::move(*f);
      for (const auto& o : r.redirect_options) {
        if (o == "drop-query") {
          c.drop_query = true;
        } else if (o == "append-slash") {
          c.append_slash = true;
        } else if (o.starts_with("set-cookie ")) {
          c.set_cookies.push_back(o.substr(11) + "; path=/;");
        } else if (o.starts_with("clear-cookie ")) {
          c.set_cookies.push_back(o.substr(13) + "; path=/; Max-Age=0;");
        } else {
          d.error(r.where, fmt::format("{}: option '{}' needs a cookie name", rule, o),
                  fmt::format("write '{} NAME'", o));
          ok = false;
        }
      }
      break;
    case HttpRule::Action::kReturn:
      if (r.body) {
        if (r.body_is_log_format) {
          if (auto f = lf(*r.body, "lf-string")) c.body = std::move(*f);
        } else {
          c.body = LogFormat::literal(*r.body);
        }
      }
      if (r.status < 200 || r.status > 599) {
        d.error(r.where, fmt::format("{}: status {} is outside 200..599", rule, r.status));
        ok = false;
      }
      break;
    case HttpRule::Action::kUseService:
      if (r.service != "prometheus-exporter") {
        d.error(r.where, fmt::format("{}: unknown service '{}'", rule, r.service),
                "the only service is prometheus-exporter");
        ok = false;
      }
      break;
    default:
      break;
  }
  if (r.condition) {
    c.condition = acls.compile_condition(*r.condition, stage, rule, d);
    if (!c.condition) ok = false;
  }
  if (!ok) return std::nullopt;
  return c;
}

// haproxy's http_get_path(): the path of origin- or absolute-form targets, with the query.
std::string_view path_with_query(std::string_view target) {
  if (!target.empty() && target[0] == '/') return target;
  auto scheme = target.find("://");
  if (scheme == std::string_view::npos) return {};
  auto slash = target.find('/', scheme + 3);
  return slash == std::string_view::npos ? std::string_view{} : target.substr(slash);
}

void build_location(const CompiledHttpRule& r, const http1::Head& req, const RequestContext& ctx,
                    std::string& out) {
  // As haproxy's http_apply_redirect_rule(): prefix and scheme keep the request's path and
  // query (drop-query cuts the query); append-slash adds '/' when the result lacks one, even
  // after a query (measured: "/p?q=1" -> "/new/p?q=1/").
  if (r.redirect == HttpRule::RedirectKind::kLocation) {
    r.value.render(ctx, out);
    return;
  }
  std::string_view path = path_with_query(req.target);
  if (path.empty()) path = "/";
  if (r.drop_query) path = path.substr(0, path.find('?'));
  if (r.redirect == HttpRule::RedirectKind::kPrefix) {
    size_t before = out.size();
    r.value.render(ctx, out);
    if (out.size() == before + 1 && out.back() == '/') out.pop_back();  // "/" adds nothing
  } else {
    r.value.render(ctx, out);
    out += "://";
    if (const auto* host = http1::find_header(req.headers, "host")) out += host->value;
  }
  out += path;
  if (r.append_slash && !out.empty() && out.back() != '/') out += '/';
}

}  // namespace

HttpRules HttpRules::compile(const std::vector<HttpRule>& rules, Stage stage, const AclSet& acls,
                             Diagnostics& d) {
  HttpRules out;
  out.stage_ = stage;
  for (const auto& r : rules) {
    if (auto c = compile_rule(r, stage, acls, d)) out.rules_.push_back(std::move(*c));
  }
  return out;
}

Outcome HttpRules::run(http1::Head& head, const RequestContext& base) const {
  RequestContext ctx = base;
  if (stage_ == Stage::kRequest) {
    ctx.request = &head;
    ctx.response = nullptr;
  } else {
    ctx.response = &head;
  }
  Outcome o;
  std::string value;
  for (const auto& r : rules_) {
    if (r.condition && !r.condition->eval(ctx)) continue;
    switch (r.action) {
      case HttpRule::Action::kAllow:
        o.allowed = true;
        return o;
      case HttpRule::Action::kSetHeader:
      case HttpRule::Action::kAddHeader:
        // The value is built before the header changes: set-header X "%[hdr(X)]" keeps it.
        value.clear();
        r.value.render(ctx, value);
        if (r.action == HttpRule::Action::kSetHeader) {
          http1::set_header(head.headers, r.header, value);
        } else {
          http1::add_header(head.headers, r.header, value);
        }
        break;
      case HttpRule::Action::kDelHeader:
        http1::del_header(head.headers, r.header);
        break;
      case HttpRule::Action::kDeny:
        o.kind = Outcome::Kind::kDeny;
        o.status = r.status;
        return o;
      case HttpRule::Action::kRedirect:
        o.kind = Outcome::Kind::kRedirect;
        o.status = r.status;
        build_location(r, ctx.request != nullptr ? *ctx.request : head, ctx, o.location);
        o.set_cookies = r.set_cookies;
        return o;
      case HttpRule::Action::kReturn:
        o.kind = Outcome::Kind::kReturn;
        o.status = r.status;
        if (r.body) {
          o.body.emplace();
          r.body->render(ctx, *o.body);
          o.content_type = r.content_type;
        }
        return o;
      case HttpRule::Action::kUseService:
        o.kind = Outcome::Kind::kService;
        o.service = r.service;
        return o;
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// A whole proxy.

ProxyRules ProxyRules::compile(const Proxy& proxy, Diagnostics& d) {
  ProxyRules out;
  out.acls = AclSet::compile(proxy, d);
  out.http_request = HttpRules::compile(proxy.http_request, Stage::kRequest, out.acls, d);
  out.http_response = HttpRules::compile(proxy.http_response, Stage::kResponse, out.acls, d);
  for (const auto& b : proxy.use_backends) {
    CompiledBackendRule c{b.backend, std::nullopt, b.where, {}};
    if (b.condition) {
      c.condition_where = b.condition->where;
      c.condition = out.acls.compile_condition(*b.condition, Stage::kRequest, "use_backend", d);
      if (!c.condition) continue;
    }
    out.use_backends.push_back(std::move(c));
  }
  if (proxy.stats.admin) {
    out.stats_admin_where = proxy.stats.admin->where;
    out.stats_admin =
        out.acls.compile_condition(*proxy.stats.admin, Stage::kRequest, "stats admin", d);
  }
  return out;
}

const std::string* ProxyRules::select_backend(const RequestContext& ctx) const {
  for (const auto& b : use_backends)
    if (!b.condition || b.condition->eval(ctx)) return &b.backend;
  return nullptr;
}

namespace {
bool same_place(const core::SourceLocation& a, const core::SourceLocation& b) {
  return a.line == b.line && a.column == b.column && a.file_name() == b.file_name();
}
}  // namespace

const CompiledCondition* ProxyRules::find_condition(const Condition& cond) const {
  for (const auto& b : use_backends)
    if (b.condition && same_place(b.condition_where, cond.where)) return &*b.condition;
  if (stats_admin && same_place(stats_admin_where, cond.where)) return &*stats_admin;
  return nullptr;
}

}  // namespace tandem::lb
