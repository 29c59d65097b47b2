#include "lb/stats/page.h"

#include <fmt/format.h>

#include <array>

#include "lb/stats/csv.h"
#include "lb/stats/prometheus.h"

namespace tandem::lb::stats {
namespace {

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// "1d2h", "3h05m", "4m07s", "12s": how long ago, short enough for a table cell.
std::string human_duration(uint64_t s) {
  if (s >= 86400) return fmt::format("{}d{}h", s / 86400, s / 3600 % 24);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

// Bytes with a unit, so that columns stay narrow.
std::string human_bytes(uint64_t b) {
  static constexpr std::array<std::string_view, 5> kUnits = {"", "k", "M", "G", "T"};
  double v = static_cast<double>(b);
  size_t u = 0;
  while (v >= 10000 && u + 1 < kUnits.size()) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? std::to_string(b) : fmt::format("{:.1f}{}", v, kUnits[u]);
}

// A CSS class per server status, as haproxy's colours: green UP, yellow going down, orange
// going up, red DOWN, blue NOLB/DRAIN, brown MAINT, grey unchecked.
std::string_view status_class(const ServerView& s) {
  if (s.admin == AdminState::kMaint) return "maint";
  const std::string st = s.status();
  if (st == "no check") return "nocheck";
  if (st.starts_with("UP ")) return "goingdown";
  if (st == "UP") return "up";
  if (st.starts_with("DOWN ")) return "goingup";
  if (st.starts_with("DOWN")) return "down";
  return "nolb";  // NOLB, DRAIN
}

constexpr std::string_view kStyle = R"(
body{font-family:Arial,Helvetica,sans-serif;font-size:13px;margin:8px;background:#fff;color:#000}
h1{font-size:18px;margin:0 0 4px 0}
h2{font-size:14px;margin:14px 0 2px 0}
.info{color:#444;margin-bottom:8px}
table.px{border-collapse:collapse;margin-bottom:6px;width:100%}
table.px th,table.px td{border:1px solid #999;padding:1px 4px;text-align:right;white-space:nowrap}
table.px th{background:#20a0a0;color:#fff;font-weight:normal}
table.px td.name{text-align:left;font-weight:bold}
tr.frontend td,tr.backend td{background:#e8e8d0}
tr.up td{background:#c0ffc0}
tr.goingdown td{background:#ffffa0}
tr.goingup td{background:#ffd020}
tr.down td{background:#ff9090}
tr.nolb td{background:#a0c8ff}
tr.maint td{background:#c07820;color:#fff}
tr.nocheck td{background:#e0e0e0}
tr.stopped td{background:#ff9090}
.banner{padding:4px;margin:6px 0;border:1px solid #999}
.ok{background:#c0ffc0}.warn{background:#ffffa0}.err{background:#ff9090}
.legend span{padding:0 6px;margin-right:4px;border:1px solid #999}
)";

void table_header(std::string& out, bool admin) {
  out += "<tr>";
  if (admin) out += "<th rowspan=2></th>";
  out +=
      "<th rowspan=2>Name</th><th rowspan=2>Status</th><th rowspan=2>Since</th>"
      "<th rowspan=2>Weight</th><th colspan=2>Queue</th><th colspan=4>Sessions</th>"
      "<th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th>"
      "<th colspan=2>Warnings</th><th colspan=3>Check</th><th rowspan=2>Downtime</th></tr>\n"
      "<tr><th>Cur</th><th>Max</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th>"
      "<th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th>"
      "<th>Resp</th><th>Retr</th><th>Redis</th><th>Result</th><th>Duration</th>"
      "<th>Chk/Down</th></tr>\n";
}

std::string cells(std::initializer_list<std::string> values) {
  std::string out;
  for (const auto& v : values) out += fmt::format("<td>{}</td>", html_escape(v));
  return out;
}

std::string num(uint64_t v) {
  return std::to_string(v);
}

void frontend_tr(std::string& out, const ProxyView& p, bool admin) {
  const Traffic& t = p.frontend;
  out += fmt::format("<tr class={}>", p.stopped ? "stopped" : "frontend");
  if (admin) out += "<td></td>";
  out += "<td class=name>Frontend</td>";
  out += cells({p.stopped ? "STOP" : "OPEN",
                "",
                "",
                "",
                "",
                num(t.sessions_current),
                num(t.sessions_max),
                p.maxconn ? num(p.maxconn) : "",
                num(t.sessions_total),
                human_bytes(t.bytes_in),
                human_bytes(t.bytes_out),
                num(t.denied_requests),
                num(t.denied_responses),
                num(t.request_errors),
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                ""});
  out += "</tr>\n";
}

void server_tr(std::string& out, const ProxyView& p, const ServerView& s, bool admin) {
  const Traffic& t = s.traffic;
  out += fmt::format("<tr class={}>", status_class(s));
  if (admin) {
    out += fmt::format("<td><input type=checkbox name=s value=\"{}\"></td>", html_escape(s.name));
  }
  out += fmt::format("<td class=name title=\"{}\">{}{}</td>", html_escape(s.address),
                     html_escape(s.name), s.backup ? " (backup)" : "");
  std::string check, duration, chk;
  if (s.checked) {
    if (s.last_check) {
      check = s.last_check->status;
      if (s.last_check->code) check += fmt::format(" {}", *s.last_check->code);
      if (!s.last_check->info.empty()) check += ": " + s.last_check->info;
      duration = fmt::format("{}ms", s.last_check->duration_ms);
    } else {
      check = "INI";
    }
    chk = fmt::format("{}/{}", s.check_failures, s.check_downs);
  }
  (void)p;
  out += cells({s.status(),
                human_duration(s.last_change_s),
                s.weight == s.initial_weight ? num(s.weight)
                                             : fmt::format("{} ({})", s.weight, s.initial_weight),
                num(t.queue_current),
                num(t.queue_max),
                num(t.sessions_current),
                num(t.sessions_max),
                s.maxconn ? num(s.maxconn) : "",
                num(t.sessions_total),
                human_bytes(t.bytes_in),
                human_bytes(t.bytes_out),
                "",
                num(t.denied_responses),
                "",
                num(t.connect_errors),
                num(t.response_errors),
                num(t.retries),
                num(t.redispatches),
                check,
                duration,
                chk,
                s.checked ? human_duration(s.downtime_s) : ""});
  out += "</tr>\n";
}

void backend_tr(std::string& out, const ProxyView& p, bool admin) {
  const Traffic& t = p.backend;
  out += fmt::format("<tr class={}>", p.backend_up() ? "backend" : "stopped");
  if (admin) out += "<td></td>";
  out += "<td class=name>Backend</td>";
  out += cells({p.backend_up() ? "UP" : "DOWN",
                human_duration(p.last_change_s),
                num(p.backend_weight()),
                num(t.queue_current),
                num(t.queue_max),
                num(t.sessions_current),
                num(t.sessions_max),
                p.fullconn ? num(p.fullconn) : "",
                num(t.sessions_total),
                human_bytes(t.bytes_in),
                human_bytes(t.bytes_out),
                num(t.denied_requests),
                num(t.denied_responses),
                "",
                num(t.connect_errors),
                num(t.response_errors),
                num(t.retries),
                num(t.redispatches),
                "",
                "",
                fmt::format("{} act, {} bck", p.active_servers(), p.backup_servers()),
                human_duration(p.downtime_s)});
  out += "</tr>\n";
}

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kActions = {{
    {"ready", "Set state to READY"},
    {"drain", "Set state to DRAIN"},
    {"maint", "Set state to MAINT"},
    {"shutdown", "Kill Sessions"},
}};

}  // namespace

std::optional<PageRequest> match_stats_uri(std::string_view target, std::string_view uri) {
  if (uri.empty() || !target.starts_with(uri)) return std::nullopt;
  PageRequest r;
  std::string_view rest = target.substr(uri.size());
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    if (semi == std::string_view::npos) break;
    rest = rest.substr(semi + 1);
    const std::string_view opt = rest.substr(0, rest.find_first_of(";&?#"));
    if (opt == "csv") r.csv = true;
    if (opt == "up") r.up_only = true;
    if (opt == "norefresh") r.no_refresh = true;
    if (opt.starts_with("st=")) r.status = std::string(opt.substr(3, 4));
  }
  return r;
}

bool check_basic_auth(std::string_view authorization,
                      const std::vector<std::pair<std::string, std::string>>& users) {
  if (users.empty()) return true;
  constexpr std::string_view kBasic = "Basic ";
  if (authorization.size() <= kBasic.size()) return false;
  for (size_t i = 0; i < kBasic.size() - 1; ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kBasic[i]))) {
      return false;
    }
  }
  std::string_view encoded = authorization.substr(kBasic.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  const auto decoded = base64_decode(encoded);
  if (!decoded) return false;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string_view user = std::string_view(*decoded).substr(0, colon);
  const std::string_view pass = std::string_view(*decoded).substr(colon + 1);
  for (const auto& [u, p] : users) {
    if (u == user && p == pass) return true;
  }
  return false;
}

AdminPost parse_admin_post(std::string_view body) {
  AdminPost post;
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string name = url_decode(pair.substr(0, eq));
    std::string value = url_decode(pair.substr(eq + 1));
    if (name == "b") {
      post.backend = std::move(value);
    } else if (name == "s") {
      post.servers.push_back(std::move(value));
    } else if (name == "action") {
      post.action = std::move(value);
    }
  }
  return post;
}

std::string_view admin_status_text(std::string_view code) {
  if (code == "DONE") return "Action processed successfully.";
  if (code == "PART") return "Action partially processed.";
  if (code == "NONE") return "Nothing has changed.";
  if (code == "DENY") return "Action denied.";
  if (code == "ERRP") return "Action not processed because of invalid parameters.";
  if (code == "EXCD") return "Action not processed: too much data; retry with fewer servers.";
  return "Unexpected result.";
}

std::string render_html(const StatsView& view, const PageOptions& o) {
  const ProcessInfo& pi = view.process;
  std::string out = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n";
  if (o.refresh) {
    out += fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">\n",
                       std::max<int64_t>(1, o.refresh->count() / 1000));
  }
  out += fmt::format(
      "<title>Statistics Report for {}{}</title>\n<style>{}</style></head>\n<body>\n",
      html_escape(pi.name), pi.node.empty() ? "" : " on " + html_escape(pi.node), kStyle);
  out += fmt::format("<h1>{}{}</h1>\n", html_escape(pi.name),
                     o.hide_version ? "" : " version " + html_escape(pi.version));
  out += fmt::format(
      "<div class=info>pid {} &middot; uptime {} &middot; threads {} &middot; current "
      "connections {} of {} &middot; total connections {} &middot; requests {}",
      pi.pid, human_duration(pi.uptime_s), pi.nbthread, pi.current_conns, pi.maxconn,
      pi.total_conns, pi.total_requests);
  out += fmt::format(
      " &middot; <a href=\"{0};csv\">CSV</a> &middot; <a href=\"{0}{1}\">{2}</a></div>\n",
      html_escape(o.uri), o.up_only ? "" : ";up", o.up_only ? "Show all servers" : "Hide DOWN");
  out +=
      "<div class=legend><span class=up style=\"background:#c0ffc0\">UP</span>"
      "<span style=\"background:#ffffa0\">UP, going down</span>"
      "<span style=\"background:#ffd020\">DOWN, going up</span>"
      "<span style=\"background:#ff9090\">DOWN</span>"
      "<span style=\"background:#a0c8ff\">NOLB / DRAIN</span>"
      "<span style=\"background:#c07820;color:#fff\">MAINT</span>"
      "<span style=\"background:#e0e0e0\">not checked</span></div>\n";
  if (!o.status.empty()) {
    const std::string_view cls =
        o.status == "DONE" ? "ok" : (o.status == "PART" || o.status == "NONE" ? "warn" : "err");
    out += fmt::format("<div class=\"banner {}\"><a href=\"{}\">[X]</a> {}</div>\n", cls,
                       html_escape(o.uri), admin_status_text(o.status));
  }
  for (const auto& p : view.proxies) {
    const bool admin = o.admin && p.is_backend() && !p.servers.empty();
    out += fmt::format("<h2>{}</h2>\n", html_escape(p.name));
    if (admin) {
      out += fmt::format("<form method=post action=\"{}\">\n", html_escape(o.uri));
    }
    out += "<table class=px>\n";
    table_header(out, admin);
    if (p.is_frontend()) frontend_tr(out, p, admin);
    if (p.is_backend()) {
      for (const auto& s : p.servers) {
        if (o.up_only && s.state_label() != "UP") continue;
        server_tr(out, p, s, admin);
      }
      backend_tr(out, p, admin);
    }
    out += "</table>\n";
    if (admin) {
      out +=
          "Choose the action to perform on the checked servers: <select name=action>"
          "<option value=\"\"></option>";
      for (const auto& [value, label] : kActions) {
        out += fmt::format("<option value=\"{}\">{}</option>", value, label);
      }
      out += fmt::format(
          "</select><input type=hidden name=b value=\"#{}\"><input type=submit "
          "value=\"Apply\"></form>\n",
          p.id);
    }
  }
  out += "</body></html>\n";
  return out;
}

HttpReply serve_stats_page(const StatsPage& config, const PageInput& in, const StatsView& view,
                           AdminTarget* target) {
  HttpReply reply;
  reply.headers.emplace_back("cache-control", "no-cache");
  if (!check_basic_auth(in.authorization, config.auth)) {
    reply.status = 401;
    const std::string realm = config.realm.empty() ? "HAProxy Statistics" : config.realm;
    reply.headers.emplace_back("content-type", "text/html");
    reply.headers.emplace_back("www-authenticate", fmt::format("Basic realm=\"{}\"", realm));
    reply.body =
        "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access "
        "this content.\n</body></html>\n";
    return reply;
  }
  const auto request = match_stats_uri(in.target, config.uri).value_or(PageRequest{});
  if (in.method == "POST") {
    std::string code;
    if (!in.admin_allowed || !target) {
      code = "DENY";
    } else {
      const AdminPost post = parse_admin_post(in.body);
      if (post.backend.empty() || post.servers.empty() || post.action.empty()) {
        code = "NONE";
      } else {
        const ProxyView* px = nullptr;
        if (post.backend.starts_with('#')) {
          for (const auto& p : view.proxies) {
            if (p.is_backend() && "#" + std::to_string(p.id) == post.backend) px = &p;
          }
        } else {
          px = view.find_backend(post.backend);
        }
        const bool known = post.action == "ready" || post.action == "drain" ||
                           post.action == "maint" || post.action == "shutdown";
        size_t done = 0, failed = 0;
        if (px && known) {
          for (const auto& name : post.servers) {
            const ServerView* sv = px->find_server(name);
            if (!sv) {
              ++failed;
              continue;
            }
            core::Result<void> r;
            if (post.action == "shutdown") {
              r = target->shutdown_sessions(px->name, sv->name);
            } else {
              const AdminState s = post.action == "ready"   ? AdminState::kReady
                                   : post.action == "drain" ? AdminState::kDrain
                                                            : AdminState::kMaint;
              r = target->set_admin_state(px->name, sv->name, s);
            }
            ++(r ? done : failed);
          }
        }
        code = done == 0 ? "ERRP" : (failed ? "PART" : "DONE");
      }
    }
    reply.status = 303;
    reply.headers.emplace_back("content-type", "text/plain");
    reply.headers.emplace_back("location", fmt::format("{};st={}", config.uri, code));
    return reply;
  }
  const bool refresh = config.refresh && !request.no_refresh;
  if (refresh) {
    reply.headers.emplace_back(
        "refresh", std::to_string(std::max<int64_t>(1, config.refresh->count() / 1000)));
  }
  if (request.csv) {
    reply.headers.emplace_back("content-type", "text/plain");
    CsvOptions o;
    o.up_only = request.up_only;
    reply.body = render_csv(view, o);
    return reply;
  }
  reply.headers.emplace_back("content-type", "text/html");
  PageOptions o;
  o.uri = config.uri;
  if (refresh) o.refresh = config.refresh;
  o.admin = in.admin_allowed && target != nullptr;
  o.hide_version = config.hide_version;
  o.up_only = request.up_only;
  o.status = request.status;
  reply.body = render_html(view, o);  // to_http_response leaves it out for HEAD
  return reply;
}

HttpReply prometheus_reply(const StatsView& view) {
  HttpReply reply;
  reply.headers.emplace_back("cache-control", "no-cache");
  reply.headers.emplace_back("content-type", std::string(kPrometheusContentType));
  reply.body = render_prometheus(view);
  return reply;
}

std::string to_http_response(const HttpReply& reply, bool close, bool head) {
  std::string_view reason = "OK";
  switch (reply.status) {
    case 303:
      reason = "See Other";
      break;
    case 401:
      reason = "Unauthorized";
      break;
    case 403:
      reason = "Forbidden";
      break;
    default:
      break;
  }
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", reply.status, reason);
  for (const auto& [name, value] : reply.headers) out += fmt::format("{}: {}\r\n", name, value);
  out += fmt::format("content-length: {}\r\n", reply.body.size());
  if (close) out += "connection: close\r\n";
  out += "\r\n";
  if (!head) out += reply.body;
  return out;
}

}  // namespace tandem::lb::stats
