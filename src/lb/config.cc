#include "lb/config.h"

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <span>

#include <fmt/format.h>

#include "conf/args.h"
#include "conf/keyword_table.h"
#include "conf/source_text.h"

namespace tandem::lb {
namespace {

using conf::KeywordTable;
using conf::kUnbounded;
using conf::Line;
using conf::Statement;
using conf::Word;
using core::Diagnostics;

constexpr const char* kProgram = "tandem-lb";
constexpr const char* kNoTls = "tandem-lb does not terminate TLS yet";

// Where a proxy keyword is valid, as the columns of haproxy's keyword matrix (section 4.1).
enum Caps : unsigned { kDef = 1, kFe = 2, kBe = 4, kAll = 7, kDefFe = 3, kDefBe = 5, kFeBe = 6 };

unsigned caps_of(Proxy::Kind k) {
  switch (k) {
    case Proxy::Kind::kDefaults:
      return kDef;
    case Proxy::Kind::kFrontend:
      return kFe;
    case Proxy::Kind::kBackend:
      return kBe;
    case Proxy::Kind::kListen:
      return kFe | kBe;
  }
  return 0;
}

std::string caps_list(unsigned caps) {
  std::vector<std::string> s;
  if (caps & kDef) s.push_back("defaults");
  if (caps & kFe) s.push_back("frontend");
  if (caps & (kFe | kBe)) s.push_back("listen");
  if (caps & kBe) s.push_back("backend");
  return fmt::format("{}", fmt::join(s, ", "));
}

Duration to_ms(std::chrono::microseconds us) {
  // haproxy rounds sub-millisecond times up to the next millisecond
  return std::chrono::ceil<Duration>(us);
}

std::optional<Duration> parse_time(const Word& w, Diagnostics& d, std::string_view what) {
  auto v = conf::parse_haproxy_time(w, d, what);
  if (!v) return std::nullopt;
  return to_ms(*v);
}

std::optional<uint32_t> parse_u32(const Word& w, uint64_t min, uint64_t max, Diagnostics& d,
                                  std::string_view what) {
  auto v = conf::parse_uint(w, min, max, d, what);
  if (!v) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

bool is_ip(std::string_view s, int family) {
  std::string copy(s);
  std::array<unsigned char, 16> buf{};
  return ::inet_pton(family, copy.c_str(), buf.data()) == 1;
}

bool valid_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

// ---------------------------------------------------------------------------------------------
// Addresses.

enum class AddrUse { kBind, kServer, kLog, kStatsSocket };

std::optional<uint16_t> parse_port(std::string_view text, const Word& w, Diagnostics& d) {
  uint64_t v = 0;
  bool ok = !text.empty() && text.size() <= 5;
  for (char c : text) {
    if (c < '0' || c > '9') ok = false;
    if (ok) v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || v == 0 || v > 65535) {
    d.error(w.where, fmt::format("invalid port '{}' in '{}'", text, w.text),
            "a port is a number from 1 to 65535");
    return std::nullopt;
  }
  return static_cast<uint16_t>(v);
}

// One address (no commas). Ranges "A-B" only for binds.
std::optional<Address> parse_address(std::string_view text, const Word& w, AddrUse use,
                                     Diagnostics& d) {
  Address a;
  auto prefixed = [&](std::string_view p) {
    if (text.substr(0, p.size()) != p) return false;
    text.remove_prefix(p.size());
    return true;
  };
  const char* usage =
      use == AddrUse::kBind
          ? "write [ADDR]:PORT[-PORT] (ADDR an IPv4 or IPv6 address, or * for all), "
            "unix@PATH, abns@NAME or fd@N"
          : "write ADDR:PORT, ADDR an IPv4 or IPv6 address or a host name";
  if (prefixed("unix@") || (!text.empty() && text[0] == '/')) {
    if (use == AddrUse::kServer) {
      d.error(w.where,
              fmt::format("unix socket servers are not supported by {}: '{}'", kProgram, w.text),
              usage);
      return std::nullopt;
    }
    if (text.empty()) {
      d.error(w.where, "empty unix socket path", "write unix@/path/to/socket");
      return std::nullopt;
    }
    a.kind = Address::Kind::kUnix;
    a.host = std::string(text);
    return a;
  }
  if (prefixed("abns@")) {
    if (use != AddrUse::kBind && use != AddrUse::kStatsSocket) {
      d.error(w.where, fmt::format("abns@ addresses are only for bind lines: '{}'", w.text), usage);
      return std::nullopt;
    }
    if (text.empty()) {
      d.error(w.where, "empty abstract socket name", "write abns@NAME");
      return std::nullopt;
    }
    a.kind = Address::Kind::kAbns;
    a.host = std::string(text);
    return a;
  }
  if (prefixed("fd@")) {
    if (use != AddrUse::kBind) {
      d.error(w.where, fmt::format("fd@ addresses are only for bind lines: '{}'", w.text), usage);
      return std::nullopt;
    }
    if (text.find("${") != std::string_view::npos || text.find('$') != std::string_view::npos) {
      d.error(w.where, fmt::format("unexpanded variable in '{}'", w.text),
              "variables expand only inside double quotes: write \"fd@${NAME}\"");
      return std::nullopt;
    }
    Word fake{std::string(text), w.where, w.quoted};
    auto n = conf::parse_uint(fake, 0, 65535, d, "file descriptor");
    if (!n) return std::nullopt;
    a.kind = Address::Kind::kFd;
    a.fd = static_cast<int>(*n);
    return a;
  }
  for (std::string_view bad : {"sockpair@", "quic4@", "quic6@", "udp@", "udp4@", "udp6@", "uxst@",
                               "uxdg@", "ring@", "tcp@", "tcp4@", "tcp6@"}) {
    if (text.substr(0, bad.size()) == bad && !(use == AddrUse::kLog && bad == "udp@")) {
      d.error(w.where, fmt::format("address family '{}' is not supported by {}", bad, kProgram),
              usage);
      return std::nullopt;
    }
  }
  int force = 0;
  if (prefixed("ipv4@")) force = AF_INET;
  if (force == 0 && prefixed("ipv6@")) force = AF_INET6;
  if (use == AddrUse::kLog) prefixed("udp@");

  std::string_view host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      d.error(w.where, fmt::format("missing ']' in '{}'", w.text), usage);
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') {
      d.error(w.where, fmt::format("unexpected text after ']' in '{}'", w.text), usage);
      return std::nullopt;
    }
    if (!rest.empty()) port = rest.substr(1);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      host = text;
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
  }
  if (host.empty() || host == "*") {
    if (use != AddrUse::kBind && use != AddrUse::kStatsSocket) {
      d.error(w.where, fmt::format("missing address in '{}'", w.text), usage);
      return std::nullopt;
    }
    a.wildcard = true;
    a.kind = force == AF_INET6 ? Address::Kind::kIpv6 : Address::Kind::kIpv4;
    a.host = force == AF_INET6 ? "::" : "0.0.0.0";
  } else if (is_ip(host, AF_INET) && force != AF_INET6) {
    a.kind = Address::Kind::kIpv4;
    a.host = std::string(host);
    a.wildcard = host == "0.0.0.0";
  } else if (is_ip(host, AF_INET6) && force != AF_INET) {
    a.kind = Address::Kind::kIpv6;
    a.host = std::string(host);
    a.wildcard = host == "::";
  } else if (use == AddrUse::kServer && force == 0 && valid_name(host) &&
             host.find(':') == std::string_view::npos) {
    a.kind = Address::Kind::kName;
    a.host = std::string(host);
  } else {
    d.error(w.where, fmt::format("invalid address '{}' in '{}'", host, w.text),
            use == AddrUse::kServer ? usage
                                    : "write an IP address; host names are resolved "
                                      "only for servers");
    return std::nullopt;
  }
  if (port.empty()) {
    if (use == AddrUse::kLog) {
      a.port_first = a.port_last = 514;
      return a;
    }
    d.error(w.where, fmt::format("missing port in '{}'", w.text),
            use == AddrUse::kServer
                ? "write ADDR:PORT; servers without a port (the client's port) are not "
                  "supported by tandem-lb"
                : usage);
    return std::nullopt;
  }
  size_t dash = port.find('-');
  if (dash != std::string_view::npos && use != AddrUse::kBind) {
    d.error(w.where, fmt::format("port ranges are only for bind lines: '{}'", w.text), usage);
    return std::nullopt;
  }
  if (use == AddrUse::kServer && (port[0] == '+' || port[0] == '-')) {
    d.error(w.where, fmt::format("port offsets are not supported by {}: '{}'", kProgram, w.text),
            "write the server's port");
    return std::nullopt;
  }
  auto first = parse_port(port.substr(0, dash), w, d);
  if (!first) return std::nullopt;
  a.port_first = a.port_last = *first;
  if (dash != std::string_view::npos) {
    auto last = parse_port(port.substr(dash + 1), w, d);
    if (!last) return std::nullopt;
    if (*last < *first) {
      d.error(w.where, fmt::format("port range '{}' ends before it starts", port),
              "write LOW-HIGH");
      return std::nullopt;
    }
    a.port_last = *last;
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Log targets: "log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]".

constexpr std::array<std::string_view, 24> kFacilities = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "auth2",  "ftp",    "ntp",    "audit",  "alert",  "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
constexpr std::array<std::string_view, 8> kLevels = {"emerg",   "alert",  "crit", "err",
                                                     "warning", "notice", "info", "debug"};
constexpr std::array<std::string_view, 8> kLogFormats = {"local", "rfc3164",  "rfc5424", "short",
                                                         "raw",   "priority", "iso",     "timed"};

template <size_t N>
bool one_of(const std::array<std::string_view, N>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::optional<LogTarget> parse_log(const Statement& st, Diagnostics& d) {
  const auto& a = st.args;
  LogTarget t;
  t.where = st.where();
  const Word& addr = a[0];
  if (addr.text == "stdout" || addr.text == "fd@1") {
    t.kind = LogTarget::Kind::kStdout;
  } else if (addr.text == "stderr" || addr.text == "fd@2") {
    t.kind = LogTarget::Kind::kStderr;
  } else if (addr.text.rfind("fd@", 0) == 0 || addr.text.rfind("ring@", 0) == 0) {
    d.error(addr.where, fmt::format("log target '{}' is not supported by {}", addr.text, kProgram),
            "log to stdout, stderr, a unix socket (/dev/log) or udp ADDR[:PORT]");
    return std::nullopt;
  } else {
    auto parsed = parse_address(addr.text, addr, AddrUse::kLog, d);
    if (!parsed) return std::nullopt;
    if (parsed->kind == Address::Kind::kUnix) {
      t.kind = LogTarget::Kind::kUnix;
      t.path = parsed->host;
    } else {
      t.kind = LogTarget::Kind::kUdp;
      t.path = parsed->host;
      t.port = parsed->port_first;
    }
  }
  size_t i = 1;
  while (i < a.size()) {
    const std::string& k = a[i].text;
    if (k == "len" || k == "format") {
      if (i + 1 >= a.size()) {
        d.error(a[i].where, fmt::format("'{}' needs a value", k));
        return std::nullopt;
      }
      if (k == "len") {
        auto v = parse_u32(a[i + 1], 80, 65535, d, "log length");
        if (!v) return std::nullopt;
        t.max_length = *v;
      } else {
        if (!one_of(kLogFormats, a[i + 1].text)) {
          d.error(a[i + 1].where, fmt::format("unknown log format '{}'", a[i + 1].text),
                  "formats: local, rfc3164, rfc5424, short, raw, priority, iso, timed");
          return std::nullopt;
        }
        t.format = a[i + 1].text;
      }
      i += 2;
    } else if (k == "sample") {
      d.error(a[i].where, fmt::format("log 'sample' is not supported by {}", kProgram),
              "send every message to one target");
      return std::nullopt;
    } else {
      break;
    }
  }
  if (i >= a.size()) {
    d.error(st.where(), "log target without a facility",
            "write e.g. 'log /dev/log local0' or 'log stdout format raw local0'");
    return std::nullopt;
  }
  if (!one_of(kFacilities, a[i].text)) {
    d.error(a[i].where, fmt::format("unknown syslog facility '{}'", a[i].text),
            "facilities: kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, auth2, "
            "ftp, ntp, audit, alert, cron2, local0 to local7");
    return std::nullopt;
  }
  t.facility = a[i++].text;
  for (std::string* level : {&t.level, &t.min_level}) {
    if (i >= a.size()) break;
    if (!one_of(kLevels, a[i].text)) {
      d.error(a[i].where, fmt::format("unknown log level '{}'", a[i].text),
              "levels: emerg, alert, crit, err, warning, notice, info, debug");
      return std::nullopt;
    }
    *level = a[i++].text;
  }
  if (i < a.size()) {
    d.error(a[i].where, fmt::format("unexpected '{}' after the log level", a[i].text),
            "usage: log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]");
    return std::nullopt;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Targets of the tables.

struct GlobalDraft {
  Global g;
};

struct ProxyCtx {
  Proxy& p;
  bool negated = false;  // "no option X"
};

struct ServerCtx {
  ServerParams& params;
  bool on_default_server = false;
};

// A KeywordTable with the section matrix of haproxy: which proxy sections take each keyword.
template <class T>
struct CapsTable {
  KeywordTable<T> table;
  std::map<std::string, unsigned, std::less<>> caps;
  std::string prefix;  // "option ", "timeout ": how a keyword is written in full

  CapsTable(std::string context, std::string prefix_words)
      : table(std::move(context), kProgram), prefix(std::move(prefix_words)) {}

  void add(unsigned c, typename KeywordTable<T>::Keyword k) {
    caps[k.name] = c;
    table.add(std::move(k));
  }

  // Dispatches `st` for a section of `kind`; a keyword of another section is an error.
  void dispatch(const Statement& st, T& target, Proxy::Kind kind, Diagnostics& d) const {
    auto it = caps.find(st.keyword->text);
    if (it != caps.end() && (it->second & caps_of(kind)) == 0) {
      d.error(st.where(),
              fmt::format("'{}{}' is not allowed in a {} section", prefix, st.keyword->text,
                          to_string(kind)),
              fmt::format("it is valid in {} sections", caps_list(it->second)));
      return;
    }
    table.dispatch(st, target, d);
  }

  std::string markdown(int level) const {
    std::string out =
        fmt::format("{} {}\n\n", std::string(static_cast<size_t>(level), '#'), table.context());
    out += "| keyword | arguments | d | f | l | b | description |\n|---|---|---|---|---|---|---|\n";
    auto cell = [](std::string s) {
      std::string o;
      for (char c : s) {
        if (c == '|') o += '\\';
        o += c;
      }
      return o;
    };
    for (const auto& i : table.entries()) {
      unsigned c = caps.at(i.name);
      auto mark = [&](bool b) { return b ? "x" : ""; };
      out += fmt::format("| `{}{}` | {} | {} | {} | {} | {} | {} |\n", prefix, i.name,
                         i.args_doc.empty() ? "" : "`" + cell(i.args_doc) + "`", mark(c & kDef),
                         mark(c & kFe), mark(c & (kFe | kBe)), mark(c & kBe), cell(i.doc));
    }
    if (!table.unsupported().empty()) {
      out += fmt::format("\nNot supported by {}:\n\n| keyword | why |\n|---|---|\n", kProgram);
      for (const auto& u : table.unsupported()) {
        out += fmt::format("| `{}{}` | {} |\n", prefix, u.name, cell(u.reason));
      }
    }
    out += "\n";
    return out;
  }
};

// Cuts "... if|unless COND" off a rule's arguments.
std::span<const Word> split_condition(std::span<const Word> args, std::optional<Condition>& cond,
                                      Diagnostics& d) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].quoted || (args[i].text != "if" && args[i].text != "unless")) continue;
    Condition c;
    c.polarity = args[i].text == "if" ? Condition::Polarity::kIf : Condition::Polarity::kUnless;
    c.where = args[i].where;
    c.words.assign(args.begin() + static_cast<ptrdiff_t>(i) + 1, args.end());
    if (c.words.empty()) {
      d.error(args[i].where, fmt::format("missing condition after '{}'", args[i].text),
              "name one or more ACLs, e.g. 'if is_api' or 'unless { src 10.0.0.0/8 }'");
    }
    cond = std::move(c);
    return args.subspan(0, i);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// The tables.

struct Tables {
  KeywordTable<GlobalDraft> global{"global section", kProgram};
  KeywordTable<GlobalDraft> global_stats{"global: stats", kProgram};
  CapsTable<ProxyCtx> proxy{"proxy sections (defaults, frontend, listen, backend)", ""};
  CapsTable<ProxyCtx> option{"option", "option "};
  CapsTable<ProxyCtx> timeout{"timeout", "timeout "};
  CapsTable<ProxyCtx> http_check{"http-check", "http-check "};
  CapsTable<ProxyCtx> stats{"stats", "stats "};
  KeywordTable<HttpRule> http_request{"http-request actions", kProgram};
  KeywordTable<HttpRule> http_response{"http-response actions", kProgram};
  KeywordTable<ServerCtx> server{"server and default-server parameters", kProgram};
  KeywordTable<Bind> bind{"bind options", kProgram};

  Tables() {
    add_global();
    add_proxy();
    add_option();
    add_timeout();
    add_http_check();
    add_stats();
    add_http_rules();
    add_server();
    add_bind();
  }
  void add_global();
  void add_proxy();
  void add_option();
  void add_timeout();
  void add_http_check();
  void add_stats();
  void add_http_rules();
  void add_server();
  void add_bind();

  // Parses "PARAM [VALUE]..." words of a server or default-server line; false on an error.
  bool parse_server_params(std::span<const Word> args, ServerCtx& c, Diagnostics& d) const {
    for (size_t i = 0; i < args.size(); ++i) {
      const Word& k = args[i];
      const auto* info = server.find(k.text);
      size_t n = info != nullptr ? info->max_args : 0;
      n = std::min(n, args.size() - i - 1);
      const size_t errors = d.error_count();
      if (server.dispatch(Statement{&k, args.subspan(i + 1, n), nullptr}, c, d) !=
              conf::DispatchResult::kHandled ||
          d.error_count() != errors) {
        return false;  // the words after an unknown parameter cannot be told apart
      }
      i += n;
    }
    return true;
  }
};

const Tables& tables();

// A proxy keyword reading one value.
using ProxyHandler = KeywordTable<ProxyCtx>::Handler;

void Tables::add_global() {
  auto& t = global;
  t.add({.name = "maxconn",
         .args_doc = "<N>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
               if (auto v = parse_u32(st.args[0], 1, 10000000, d, "maxconn")) g.g.maxconn = *v;
             },
         .doc = "Most concurrent connections of the process; unset: from the file limit."});
  t.add({.name = "nbthread",
         .args_doc = "<N>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
               if (auto v = parse_u32(st.args[0], 1, 4096, d, "nbthread")) g.g.nbthread = *v;
             },
         .doc = "Worker threads, each with its own event loop; unset: one per CPU."});
  t.add({.name = "daemon",
         .handler = [](const Statement&, GlobalDraft& g, Diagnostics&) { g.g.daemon = true; },
         .doc = "Run in the background (like -D)."});
  t.add({.name = "nosplice",
         .handler = [](const Statement&, GlobalDraft& g, Diagnostics&) { g.g.nosplice = true; },
         .doc = "Never splice(2): TCP mode and tunnels copy bytes through a buffer even where "
                "a proxy's `option splice-*` asks for splicing."});
  t.add({.name = "busy-polling",
         .handler = [](const Statement&, GlobalDraft& g, Diagnostics&) { g.g.busy_polling = true; },
         .doc = "The threads never sleep: they poll for events without a pause, for the lowest "
                "latency at the cost of whole cores, as haproxy. `no busy-polling`: they sleep as "
                "soon as they are out of work. Unset, tandem-lb's default: a thread busy at least "
                "three quarters of the time naps 20 µs on a timer before it sleeps on its "
                "events, so that its peers need not wake it (the wake-ups cost most on virtual "
                "machines) and it takes their events together. ('no' allowed)"});
  t.add(
      {.name = "master-worker",
       .handler = [](const Statement&, GlobalDraft& g, Diagnostics&) { g.g.master_worker = true; },
       .doc = "Master-worker mode, as -W: a master keeps the listeners and replaces the worker on "
              "reload."});
  auto text = [&t](std::string name, std::string args_doc, std::string doc,
                   std::string Global::*field) {
    t.add({.name = std::move(name),
           .args_doc = std::move(args_doc),
           .min_args = 1,
           .max_args = 1,
           .handler = [field](const Statement& st, GlobalDraft& g,
                              Diagnostics&) { g.g.*field = st.args[0].text; },
           .doc = std::move(doc)});
  };
  text("pidfile", "<PATH>", "Write the process id to this file (like -p).", &Global::pidfile);
  text("user", "<NAME>", "Switch to this user after binding.", &Global::user);
  text("group", "<NAME>", "Switch to this group after binding.", &Global::group);
  text("chroot", "<DIR>", "Change root to this folder after start-up.", &Global::chroot);
  t.add({.name = "log",
         .args_doc = "<ADDR> [len <N>] [format <F>] <FACILITY> [<LEVEL> [<MINLEVEL>]]",
         .min_args = 1,
         .max_args = kUnbounded,
         .handler =
             [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
               if (st.args[0].text == "global") {
                 d.error(st.args[0].where, "'log global' is for proxy sections",
                         "in the global section, name a target: 'log /dev/log local0'");
                 return;
               }
               if (auto l = parse_log(st, d)) g.g.logs.push_back(std::move(*l));
             },
         .doc = "A syslog target: stdout, stderr, /dev/log or unix@PATH, or udp IP[:PORT]."});
  t.add({.name = "stats",
         .args_doc = "socket|timeout ...",
         .min_args = 1,
         .max_args = kUnbounded,
         .handler = [this](const Statement& st, GlobalDraft& g,
                           Diagnostics& d) { global_stats.dispatch(st.shifted(), g, d); },
         .doc = "The runtime API socket.",
         .nested = &global_stats});
  t.add({.name = "hard-stop-after",
         .args_doc = "<TIME>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
               g.g.hard_stop_after = parse_time(st.args[0], d, "hard-stop-after");
             },
         .doc = "Longest time a soft stop may take before remaining connections are cut."});
  t.add({.name = "tune.bufsize",
         .args_doc = "<BYTES>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
               if (auto v = parse_u32(st.args[0], 1024, 1 << 30, d, "tune.bufsize"))
                 g.g.tune_bufsize = *v;
             },
         .doc = "Buffer size per direction of a connection; also the largest request head "
                "(default 16384)."});
  t.add({.name = "tune.http.maxhdr",
         .args_doc = "<1..32767>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
               if (auto v = parse_u32(st.args[0], 1, 32767, d, "tune.http.maxhdr"))
                 g.g.tune_http_maxhdr = *v;
             },
         .doc = "Most header lines in a request or response (default 101)."});
  auto tls_only = [&t](std::string name, std::string args_doc, std::string what,
                       std::string Global::*field) {
    t.add({.name = name,
           .args_doc = std::move(args_doc),
           .min_args = 1,
           .max_args = kUnbounded,
           .handler =
               [name, field](const Statement& st, GlobalDraft& g, Diagnostics& d) {
                 if (field != nullptr) g.g.*field = st.args[0].text;
                 d.warning(st.where(), fmt::format("'{}' has no effect: {}", name, kNoTls),
                           "it only matters for 'ssl' binds and servers");
               },
           .doc = fmt::format("Accepted with a warning, no effect: {} (TLS only).", what)});
  };
  tls_only("ca-base", "<DIR>", "folder of CA files", &Global::ca_base);
  tls_only("crt-base", "<DIR>", "folder of certificates", &Global::crt_base);
  for (const char* k :
       {"ssl-default-bind-ciphers", "ssl-default-bind-ciphersuites", "ssl-default-bind-options",
        "ssl-default-server-ciphers", "ssl-default-server-ciphersuites",
        "ssl-default-server-options", "ssl-dh-param-file", "tune.ssl.default-dh-param"}) {
    tls_only(k, "<VALUE>...", "a TLS default", nullptr);
  }
  auto state_path = [&t](std::string name, std::string args_doc, std::string doc,
                         std::string Global::*field) {
    t.add({.name = name,
           .args_doc = std::move(args_doc),
           .min_args = 1,
           .max_args = 1,
           .handler =
               [name, field](const Statement& st, GlobalDraft& g, Diagnostics& d) {
                 if (st.args[0].text.empty()) {
                   d.error(st.args[0].where, fmt::format("'{}' needs a non-empty path", name));
                   return;
                 }
                 if (!(g.g.*field).empty()) {
                   d.warning(st.where(),
                             fmt::format("'{}' given twice; the last one is used", name));
                 }
                 g.g.*field = st.args[0].text;
               },
           .doc = std::move(doc)});
  };
  state_path("server-state-base", "<DIR>",
             "Folder of the server state files named by a relative path (server-state-file, "
             "server-state-file-name); unset: the current folder.",
             &Global::server_state_base);
  state_path("server-state-file", "<FILE>",
             "The servers' states saved with 'show servers state', read at start-up by the "
             "backends with 'load-server-state-from-file global'. A missing file is a warning.",
             &Global::server_state_file);
  t.add_unsupported("lua-load", "tandem-lb has no Lua");
  t.add_unsupported("lua-prepend-path", "tandem-lb has no Lua");
  t.add_unsupported("cpu-map", "threads are not pinned; use taskset or systemd CPUAffinity=");
  t.add_unsupported("nbproc", "removed in haproxy 2.5; use nbthread");
  t.add_unsupported("uid", "write 'user NAME'");
  t.add_unsupported("gid", "write 'group NAME'");
  for (const char* k : {"setenv", "presetenv", "resetenv", "unsetenv"}) {
    t.add_unsupported(k, "set environment variables in the service unit instead");
  }
  t.add_unsupported("spread-checks", "checks are spread evenly over their interval");
  t.add_unsupported("ulimit-n", "set LimitNOFILE= in the service unit");
  t.add_unsupported("log-send-hostname", "not implemented; use 'format rfc5424' on the log line");
  t.add_unsupported("tune.maxrewrite", "tandem-lb rewrites headers without a reserve");
  t.add_unsupported("tune.ssl.cachesize", kNoTls);
  t.add_unsupported("description", "not implemented");
  t.add_unsupported("node", "not implemented");
  t.add_unsupported("localpeer", "tandem-lb has no peers section");
  t.add_unsupported("external-check", "external checks are not implemented");
  t.add_unsupported("insecure-fork-wanted", "external checks are not implemented");

  global_stats.add(
      {.name = "socket",
       .args_doc = "<PATH>|<ADDR:PORT> [mode <OCTAL>] [level user|operator|admin] "
                   "[user <U>] [group <G>] [expose-fd listeners]",
       .min_args = 1,
       .max_args = kUnbounded,
       .handler =
           [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
             const auto& a = st.args;
             auto addr = parse_address(a[0].text, a[0], AddrUse::kStatsSocket, d);
             if (!addr) return;
             StatsSocket s;
             s.address = *addr;
             s.where = st.where();
             for (size_t i = 1; i < a.size(); ++i) {
               const std::string& k = a[i].text;
               if (k != "mode" && k != "level" && k != "user" && k != "group" && k != "expose-fd") {
                 d.error(a[i].where, fmt::format("unknown stats socket option '{}'", k),
                         "options: mode, level, user, group, expose-fd listeners");
                 return;
               }
               if (i + 1 >= a.size()) {
                 d.error(a[i].where, fmt::format("'{}' needs a value", k));
                 return;
               }
               const Word& v = a[++i];
               if (k == "mode") {
                 unsigned m = 0;
                 bool ok = !v.text.empty() && v.text.size() <= 4;
                 for (char c : v.text) {
                   if (c < '0' || c > '7') ok = false;
                   m = m * 8 + static_cast<unsigned>(c - '0');
                 }
                 if (!ok) {
                   d.error(v.where, fmt::format("invalid mode '{}'", v.text),
                           "write octal permissions, e.g. 600 or 660");
                   return;
                 }
                 s.mode = m;
               } else if (k == "level") {
                 if (v.text != "user" && v.text != "operator" && v.text != "admin") {
                   d.error(v.where, fmt::format("invalid level '{}'", v.text),
                           "levels: user, operator, admin");
                   return;
                 }
                 s.level = v.text;
               } else if (k == "user") {
                 s.user = v.text;
               } else if (k == "group") {
                 s.group = v.text;
               } else if (v.text == "listeners") {
                 s.expose_fd_listeners = true;
               } else {
                 d.error(v.where, fmt::format("invalid expose-fd '{}'", v.text),
                         "write 'expose-fd listeners'");
                 return;
               }
             }
             g.g.stats_sockets.push_back(std::move(s));
           },
       .doc = "A runtime API socket (unix path or address)."});
  global_stats.add({.name = "timeout",
                    .args_doc = "<TIME>",
                    .min_args = 1,
                    .max_args = 1,
                    .handler =
                        [](const Statement& st, GlobalDraft& g, Diagnostics& d) {
                          if (auto v = parse_time(st.args[0], d, "stats timeout"))
                            g.g.stats_timeout = *v;
                        },
                    .doc = "Idle time after which a runtime API connection closes (default 10s)."});
  global_stats.add_unsupported("maxconn", "the runtime API takes 10 connections at most");
  global_stats.add_unsupported("bind-process", "removed in haproxy 2.5");
}

// Helpers for simple proxy keywords.
void proxy_flag(CapsTable<ProxyCtx>& t, unsigned caps, std::string name, std::string doc,
                std::function<void(ProxyCtx&)> set) {
  t.add(caps,
        {.name = std::move(name),
         .handler = [set = std::move(set)](const Statement&, ProxyCtx& c, Diagnostics&) { set(c); },
         .doc = std::move(doc)});
}

void Tables::add_proxy() {
  auto& t = proxy;
  t.add(kAll, {.name = "mode",
               .args_doc = "tcp|http",
               .min_args = 1,
               .max_args = 1,
               .handler =
                   [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                     const std::string& m = st.args[0].text;
                     if (m == "tcp") {
                       c.p.mode = Mode::kTcp;
                     } else if (m == "http") {
                       c.p.mode = Mode::kHttp;
                     } else {
                       d.error(st.args[0].where, fmt::format("unknown mode '{}'", m),
                               m == "health" ? "'mode health' was removed in haproxy 2.4"
                                             : "write 'mode tcp' or 'mode http'");
                     }
                   },
               .doc = "Layer 4 (tcp, the default) or HTTP/1.1 (http) proxying."});
  t.add(kFe, {.name = "bind",
              .args_doc = "<ADDR>[,<ADDR>...] [<OPTION>...]",
              .min_args = 1,
              .max_args = kUnbounded,
              .handler =
                  [this](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                    Bind proto;
                    proto.where = st.where();
                    // Options first: their arity is in the bind table.
                    bool ok = true;
                    for (size_t i = 1; i < st.args.size(); ++i) {
                      const Word& k = st.args[i];
                      const auto* info = bind.find(k.text);
                      size_t n = info != nullptr ? info->max_args : 0;
                      n = std::min(n, st.args.size() - i - 1);
                      const size_t errors = d.error_count();
                      if (bind.dispatch(Statement{&k, st.args.subspan(i + 1, n), nullptr}, proto,
                                        d) != conf::DispatchResult::kHandled ||
                          d.error_count() != errors) {
                        ok = false;
                        break;
                      }
                      i += n;
                    }
                    std::string_view list = st.args[0].text;
                    std::vector<Bind> out;
                    while (ok) {
                      size_t comma = list.find(',');
                      auto a = parse_address(list.substr(0, comma), st.args[0], AddrUse::kBind, d);
                      if (!a) {
                        ok = false;
                        break;
                      }
                      Bind b = proto;
                      b.address = *a;
                      out.push_back(std::move(b));
                      if (comma == std::string_view::npos) break;
                      list.remove_prefix(comma + 1);
                    }
                    if (ok) c.p.binds.insert(c.p.binds.end(), out.begin(), out.end());
                  },
              .doc = "Listen on addresses: IPv4, IPv6, * or empty for all, port ranges, "
                     "unix@PATH, abns@NAME, fd@N; several lines add up.",
              .nested = &bind});
  t.add(kDefFe, {.name = "maxconn",
                 .args_doc = "<N>",
                 .min_args = 1,
                 .max_args = 1,
                 .handler =
                     [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       if (auto v = parse_u32(st.args[0], 0, 10000000, d, "maxconn"))
                         c.p.maxconn = *v;
                     },
                 .doc = "Most concurrent connections of the frontend; 0: the global maxconn."});
  t.add(
      kAll,
      {.name = "errorfile",
       .args_doc = "<CODE> <FILE>",
       .min_args = 2,
       .max_args = 2,
       .handler =
           [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
             // The codes haproxy 2.6 has pages for.
             static const std::set<uint64_t> kCodes = {200, 400, 401, 403, 404, 405, 407, 408, 410,
                                                       413, 425, 429, 500, 501, 502, 503, 504};
             auto code = conf::parse_uint(st.args[0], 200, 599, d, "errorfile code");
             if (!code) return;
             if (!kCodes.count(*code)) {
               d.error(st.args[0].where,
                       fmt::format("no error page is ever sent with status {}", *code),
                       "codes: 200 400 401 403 404 405 407 408 410 413 425 429 500-504");
               return;
             }
             std::ifstream in(st.args[1].text, std::ios::binary);
             if (!in) {
               d.error(st.args[1].where, fmt::format("cannot read errorfile '{}'", st.args[1].text),
                       "the file holds the whole HTTP response (status line, headers, body)");
               return;
             }
             c.p.errorfiles[static_cast<uint16_t>(*code)] = st.args[1].text;
             c.p.errorfile_where[static_cast<uint16_t>(*code)] = st.args[1].where;
           },
       .doc = "Send this file (a whole HTTP response) instead of the built-in page for CODE."});
  t.add(kDefFe, {.name = "default_backend",
                 .args_doc = "<BACKEND>",
                 .min_args = 1,
                 .max_args = 1,
                 .handler =
                     [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       if (st.args[0].text.find('%') != std::string::npos) {
                         d.error(
                             st.args[0].where,
                             fmt::format("dynamic backend names are not supported by {}", kProgram),
                             "name a backend");
                         return;
                       }
                       c.p.default_backend = st.args[0].text;
                     },
                 .doc = "The backend used when no use_backend rule matches."});
  t.add(kFe,
        {.name = "use_backend",
         .args_doc = "<BACKEND> [if|unless <CONDITION>]",
         .min_args = 1,
         .max_args = kUnbounded,
         .handler =
             [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
               BackendRule r;
               r.where = st.where();
               auto args = split_condition(st.args, r.condition, d);
               if (args.size() != 1) {
                 d.error(args.empty() ? st.where() : args[1].where,
                         args.empty()
                             ? "use_backend needs a backend name"
                             : fmt::format("unexpected '{}' after the backend name", args[1].text),
                         "usage: use_backend <BACKEND> [if|unless <CONDITION>]");
                 return;
               }
               if (args[0].text.find('%') != std::string::npos) {
                 d.error(args[0].where,
                         fmt::format("dynamic backend names are not supported by {}", kProgram),
                         "write one use_backend rule per backend, each with its condition");
                 return;
               }
               r.backend = args[0].text;
               c.p.use_backends.push_back(std::move(r));
             },
         .doc = "Switch to a backend when the condition holds; rules are tried in order."});
  t.add(kFeBe,
        {.name = "acl",
         .args_doc = "<NAME> <CRITERION> [<FLAGS>] [<VALUE>...]",
         .min_args = 2,
         .max_args = kUnbounded,
         .handler =
             [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
               const Word& name = st.args[0];
               bool ok = !name.text.empty() &&
                         std::all_of(name.text.begin(), name.text.end(), [](char ch) {
                           return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ||
                                  ch == '_' || ch == '.' || ch == ':';
                         });
               if (!ok) {
                 d.error(name.where, fmt::format("invalid ACL name '{}'", name.text),
                         "ACL names use letters, digits, '-', '_', '.' and ':'");
                 return;
               }
               c.p.acls.push_back(
                   {name.text, std::vector<Word>(st.args.begin() + 1, st.args.end()), st.where()});
             },
         .doc = "Name a test for conditions; lines with one name add up (an OR)."});
  t.add(kDefBe,
        {.name = "balance",
         .args_doc = "<ALGORITHM> [<ARGS>]",
         .min_args = 1,
         .max_args = kUnbounded,
         .handler =
             [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
               using A = Balance::Algorithm;
               const Word& w = st.args[0];
               const std::string& s = w.text;
               Balance b;
               auto no_more = [&](size_t from) {
                 if (st.args.size() > from) {
                   d.error(st.args[from].where, fmt::format("unexpected '{}' after 'balance {}'",
                                                            st.args[from].text, s));
                   return false;
                 }
                 return true;
               };
               if (s == "roundrobin" || s == "static-rr" || s == "leastconn" || s == "first" ||
                   s == "source") {
                 if (!no_more(1)) return;
                 b.algorithm = s == "roundrobin"  ? A::kRoundRobin
                               : s == "static-rr" ? A::kStaticRr
                               : s == "leastconn" ? A::kLeastConn
                               : s == "first"     ? A::kFirst
                                                  : A::kSource;
               } else if (s == "uri") {
                 b.algorithm = A::kUri;
                 for (size_t i = 1; i < st.args.size(); ++i) {
                   const std::string& o = st.args[i].text;
                   if (o == "whole") {
                     b.uri_whole = true;
                   } else if (o == "path-only") {
                     b.uri_path_only = true;
                   } else if ((o == "len" || o == "depth") && i + 1 < st.args.size()) {
                     auto v = parse_u32(st.args[++i], 1, 65535, d, o);
                     if (!v) return;
                     (o == "len" ? b.uri_len : b.uri_depth) = *v;
                   } else {
                     d.error(st.args[i].where, fmt::format("unknown 'balance uri' option '{}'", o),
                             "options: len <N>, depth <N>, whole, path-only");
                     return;
                   }
                 }
               } else if (s.rfind("hdr(", 0) == 0 && s.size() > 5 && s.back() == ')') {
                 b.algorithm = A::kHdr;
                 b.hdr_name = s.substr(4, s.size() - 5);
                 if (st.args.size() > 1 && st.args[1].text == "use_domain_only") {
                   b.use_domain_only = true;
                   if (!no_more(2)) return;
                 } else if (!no_more(1)) {
                   return;
                 }
               } else if (s == "random" || (s.rfind("random(", 0) == 0 && s.back() == ')')) {
                 b.algorithm = A::kRandom;
                 if (s != "random") {
                   Word n{s.substr(7, s.size() - 8), w.where, w.quoted};
                   auto v = parse_u32(n, 1, 100, d, "random draws");
                   if (!v) return;
                   b.random_draws = *v;
                 }
                 if (!no_more(1)) return;
               } else if (s == "url_param" || s == "rdp-cookie" || s == "hash" ||
                          s.rfind("rdp-cookie(", 0) == 0) {
                 d.error(w.where, fmt::format("'balance {}' is not supported by {}", s, kProgram),
                         "supported: roundrobin, static-rr, leastconn, first, source, "
                         "uri, hdr(NAME), random[(N)]");
                 return;
               } else {
                 d.error(w.where, fmt::format("unknown balance algorithm '{}'", s),
                         "supported: roundrobin, static-rr, leastconn, first, source, "
                         "uri, hdr(NAME), random[(N)]");
                 return;
               }
               c.p.balance = b;
             },
         .doc = "How servers are picked: roundrobin, static-rr, leastconn, first, source, "
                "uri [len N] [depth N] [whole] [path-only], hdr(NAME) [use_domain_only], "
                "random[(N)]."});
  t.add(kDefBe, {.name = "hash-type",
                 .args_doc = "map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]",
                 .min_args = 1,
                 .max_args = 3,
                 .handler =
                     [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       HashType h;
                       const std::string& m = st.args[0].text;
                       if (m == "map-based") {
                         h.method = HashType::Method::kMapBased;
                       } else if (m == "consistent") {
                         h.method = HashType::Method::kConsistent;
                         if (st.args.size() == 1) h.avalanche = true;
                       } else {
                         d.error(st.args[0].where, fmt::format("unknown hash method '{}'", m),
                                 "write map-based or consistent");
                         return;
                       }
                       if (st.args.size() > 1) {
                         const std::string& f = st.args[1].text;
                         if (f == "sdbm") {
                           h.function = HashType::Function::kSdbm;
                         } else if (f == "djb2") {
                           h.function = HashType::Function::kDjb2;
                         } else if (f == "wt6") {
                           h.function = HashType::Function::kWt6;
                         } else if (f == "crc32") {
                           h.function = HashType::Function::kCrc32;
                         } else {
                           d.error(st.args[1].where, fmt::format("unknown hash function '{}'", f),
                                   "functions: sdbm, djb2, wt6, crc32");
                           return;
                         }
                       }
                       if (st.args.size() > 2) {
                         if (st.args[2].text != "avalanche") {
                           d.error(st.args[2].where,
                                   fmt::format("unknown hash modifier '{}'", st.args[2].text),
                                   "the only modifier is avalanche");
                           return;
                         }
                         h.avalanche = true;
                       }
                       c.p.hash_type = h;
                     },
                 .doc = "How a hash (source, uri, hdr) maps to servers; default map-based sdbm."});
  t.add(kBe, {.name = "server",
              .args_doc = "<NAME> <ADDR>:<PORT> [<PARAM>...]",
              .min_args = 2,
              .max_args = kUnbounded,
              .handler =
                  [this](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                    const Word& name = st.args[0];
                    if (!valid_name(name.text)) {
                      d.error(name.where, fmt::format("invalid server name '{}'", name.text),
                              "names use letters, digits, '-', '_', '.' and ':'");
                      return;
                    }
                    for (const Server& other : c.p.servers) {
                      if (other.name == name.text) {
                        d.error(name.where,
                                fmt::format("server '{}' is defined twice in backend '{}'",
                                            name.text, c.p.name),
                                fmt::format("the first one is at {}", other.where.to_string()));
                        return;
                      }
                    }
                    auto addr = parse_address(st.args[1].text, st.args[1], AddrUse::kServer, d);
                    Server s;
                    s.name = name.text;
                    s.where = st.where();
                    s.params = c.p.default_server;
                    ServerCtx sc{s.params, false};
                    if (!parse_server_params(st.args.subspan(2), sc, d) || !addr) return;
                    s.address = *addr;
                    c.p.servers.push_back(std::move(s));
                  },
              .doc = "A server to balance over, with its parameters.",
              .nested = &server});
  t.add(kDefBe, {.name = "default-server",
                 .args_doc = "[<PARAM>...]",
                 .min_args = 0,
                 .max_args = kUnbounded,
                 .handler =
                     [this](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       ServerParams p = c.p.default_server;
                       ServerCtx sc{p, true};
                       if (parse_server_params(st.args, sc, d)) c.p.default_server = p;
                     },
                 .doc = "Parameters for the following server lines of the section."});
  t.add(kDefBe, {.name = "retries",
                 .args_doc = "<N>",
                 .min_args = 1,
                 .max_args = 1,
                 .handler =
                     [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       if (auto v = parse_u32(st.args[0], 0, 100, d, "retries")) c.p.retries = *v;
                     },
                 .doc = "Connection attempts to a server after the first fails (default 3)."});
  t.add(kDefBe, {.name = "http-reuse",
                 .args_doc = "never|safe|aggressive|always",
                 .min_args = 1,
                 .max_args = 1,
                 .handler =
                     [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       const std::string& s = st.args[0].text;
                       if (s == "never") {
                         c.p.http_reuse = HttpReuse::kNever;
                       } else if (s == "safe") {
                         c.p.http_reuse = HttpReuse::kSafe;
                       } else if (s == "aggressive") {
                         c.p.http_reuse = HttpReuse::kAggressive;
                       } else if (s == "always") {
                         c.p.http_reuse = HttpReuse::kAlways;
                       } else {
                         d.error(st.args[0].where, fmt::format("unknown http-reuse mode '{}'", s),
                                 "write never, safe, aggressive or always");
                       }
                     },
                 .doc = "How idle server connections are shared between requests (default safe)."});
  t.add(kAll, {.name = "log",
               .args_doc = "global | <ADDR> [len <N>] [format <F>] <FACILITY> [<LEVEL> "
                           "[<MINLEVEL>]]",
               .min_args = 1,
               .max_args = kUnbounded,
               .handler =
                   [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                     if (st.args[0].text == "global") {
                       if (st.args.size() > 1) {
                         d.error(st.args[1].where, "'log global' takes no more arguments");
                         return;
                       }
                       c.p.log_global = true;
                       return;
                     }
                     if (auto l = parse_log(st, d)) c.p.logs.push_back(std::move(*l));
                   },
               .doc = "Log to the global targets (global) or to one of its own; 'no log' drops "
                      "inherited ones."});
  auto rules = [&t](std::string name, const KeywordTable<HttpRule>& actions,
                    std::vector<HttpRule> Proxy::*list, std::string doc) {
    t.add(kFeBe, {.name = name,
                  .args_doc = "<ACTION> [<ARGS>] [if|unless <CONDITION>]",
                  .min_args = 1,
                  .max_args = kUnbounded,
                  .handler =
                      [&actions, list](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                        HttpRule r;
                        r.where = st.where();
                        auto args = split_condition(st.args, r.condition, d);
                        if (args.empty()) {
                          d.error(st.where(), "missing action before the condition");
                          return;
                        }
                        Statement action{&args[0], args.subspan(1), nullptr};
                        if (actions.dispatch(action, r, d) == conf::DispatchResult::kHandled) {
                          (c.p.*list).push_back(std::move(r));
                        }
                      },
                  .doc = std::move(doc),
                  .nested = &actions});
  };
  rules("http-request", http_request, &Proxy::http_request,
        "A rule run on each request, in order (HTTP mode).");
  rules("http-response", http_response, &Proxy::http_response,
        "A rule run on each response, in order (HTTP mode).");
  t.add(kAll, {.name = "option",
               .args_doc = "<NAME> [<ARGS>]",
               .min_args = 1,
               .max_args = kUnbounded,
               .handler = [this](const Statement& st, ProxyCtx& c,
                                 Diagnostics& d) { option.dispatch(st.shifted(), c, c.p.kind, d); },
               .doc = "An option; see the option table. 'no option X' turns X off."});
  t.add(kAll,
        {.name = "timeout",
         .args_doc = "<NAME> <TIME>",
         .min_args = 1,
         .max_args = kUnbounded,
         .handler = [this](const Statement& st, ProxyCtx& c,
                           Diagnostics& d) { timeout.dispatch(st.shifted(), c, c.p.kind, d); },
         .doc = "A timeout; see the timeout table. Times are in ms unless a unit is given."});
  t.add(kDefBe,
        {.name = "http-check",
         .args_doc = "send|expect ...",
         .min_args = 1,
         .max_args = kUnbounded,
         .handler = [this](const Statement& st, ProxyCtx& c,
                           Diagnostics& d) { http_check.dispatch(st.shifted(), c, c.p.kind, d); },
         .doc = "The request of 'option httpchk' and the answer it expects."});
  t.add(kDefBe,
        {.name = "load-server-state-from-file",
         .args_doc = "global|local|none",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
               const std::string& v = st.args[0].text;
               using From = Proxy::ServerStateFrom;
               if (v == "global") {
                 c.p.load_server_state = From::kGlobal;
               } else if (v == "local") {
                 c.p.load_server_state = From::kLocal;
               } else if (v == "none") {
                 c.p.load_server_state = From::kNone;
               } else {
                 d.error(st.args[0].where,
                         fmt::format("unknown load-server-state-from-file mode '{}'", v),
                         "write global (the global server-state-file), local "
                         "(server-state-file-name) or none");
                 return;
               }
               c.p.load_server_state_where = st.where();
             },
         .doc = "At start-up, take the servers' saved states (maint, drain, weight; DOWN for "
                "checked servers) from the global server-state-file, from this backend's own "
                "file (local), or not (none, the default); by backend and server name, never "
                "the address. On a reload the master's hand-over wins unless the file is "
                "newer."});
  t.add(kDefBe, {.name = "server-state-file-name",
                 .args_doc = "[use-backend-name|<FILE>]",
                 .min_args = 0,
                 .max_args = 1,
                 .handler =
                     [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       if (st.args.empty() || st.args[0].text == "use-backend-name") {
                         c.p.server_state_file_name.clear();
                         return;
                       }
                       if (st.args[0].text.empty()) {
                         d.error(st.args[0].where,
                                 "'server-state-file-name' needs a non-empty file name",
                                 "write a path, or use-backend-name");
                         return;
                       }
                       c.p.server_state_file_name = st.args[0].text;
                     },
                 .doc = "The file 'load-server-state-from-file local' reads; relative to "
                        "server-state-base. Default and use-backend-name: the backend's name."});
  t.add(kAll, {.name = "stats",
               .args_doc = "<NAME> [<ARGS>]",
               .min_args = 1,
               .max_args = kUnbounded,
               .handler = [this](const Statement& st, ProxyCtx& c,
                                 Diagnostics& d) { stats.dispatch(st.shifted(), c, c.p.kind, d); },
               .doc = "The statistics page; see the stats table."});
  for (auto [k, why] : std::initializer_list<std::pair<const char*, const char*>>{
           {"cookie", "cookie persistence is not implemented"},
           {"stick-table", "stick tables are not implemented"},
           {"stick", "stick tables are not implemented"},
           {"tcp-request", "tcp-request rules are not implemented"},
           {"tcp-response", "tcp-response rules are not implemented"},
           {"tcp-check", "only HTTP checks and plain connect checks are implemented"},
           {"compression", "tandem-lb does not compress responses"},
           {"errorfiles", "custom error pages are not implemented"},
           {"errorloc", "custom error pages are not implemented"},
           {"http-error", "custom error pages are not implemented"},
           {"redirect", "write 'http-request redirect ...' instead"},
           {"capture", "captures are not implemented"},
           {"log-format", "custom log formats are not implemented; use option httplog or tcplog"},
           {"unique-id-format", "unique ids are not implemented"},
           {"unique-id-header", "unique ids are not implemented"},
           {"source", "choosing the source address is not implemented"},
           {"server-template", "write one server line per server"},
           {"dispatch", "write a server line"},
           {"monitor-uri", "use 'http-request return status 200 if { path /health }'"},
           {"filter", "filters are not implemented"},
           {"use-server", "write a backend per server and use_backend"},
           {"fullconn", "dynamic server limits (minconn) are not implemented"},
           {"rate-limit", "rate limiting is not implemented"},
           {"http-after-response", "write http-response rules"},
           {"description", "not implemented"},
           {"id", "proxy ids are not implemented"},
           {"bind-process", "removed in haproxy 2.5"},
           {"disabled", "remove the section or put it in a false '.if' block"},
           {"enabled", "sections are always enabled"},
           {"email-alert", "e-mail alerts are not implemented"},
           {"persist", "persistence is not implemented"},
           {"force-persist", "persistence is not implemented"},
           {"ignore-persist", "persistence is not implemented"},
           {"http-send-name-header", "not implemented"},
           {"external-check", "external checks are not implemented"},
           {"declare", "captures are not implemented"},
           {"backlog", "write 'backlog N' on the bind line"},
           {"max-keep-alive-queue", "not implemented"},
           {"retry-on", "tandem-lb retries on connection failures only"},
           {"use-fcgi-app", "FastCGI is not implemented"},
       }) {
    t.table.add_unsupported(k, why);
  }
}

void Tables::add_option() {
  auto& t = option;
  auto negatable = [&t](unsigned caps, std::string name, std::string doc,
                        std::function<void(Proxy&, bool)> set) {
    t.add(caps, {.name = std::move(name),
                 .handler = [set = std::move(set)](const Statement&, ProxyCtx& c,
                                                   Diagnostics&) { set(c.p, !c.negated); },
                 .doc = std::move(doc) + " ('no' allowed)"});
  };
  // The next options cannot be negated in haproxy either.
  auto plain = [&t](unsigned caps, std::string name, std::string args_doc, size_t max_args,
                    std::string doc, KeywordTable<ProxyCtx>::Handler h) {
    t.add(caps, {.name = name,
                 .args_doc = std::move(args_doc),
                 .min_args = 0,
                 .max_args = max_args,
                 .handler =
                     [name, h = std::move(h)](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                       if (c.negated) {
                         d.error(st.where(), fmt::format("'no option {}' is not supported", name),
                                 fmt::format("'option {}' cannot be negated; remove it or start "
                                             "from another defaults section",
                                             name));
                         return;
                       }
                       h(st, c, d);
                     },
                 .doc = std::move(doc)});
  };
  negatable(kDefBe, "redispatch", "Retry a failed connection on another server.",
            [](Proxy& p, bool on) { p.redispatch = on; });
  negatable(kAll, "splice-auto",
            "TCP mode and tunnels move bytes in both directions with splice(2), between the "
            "sockets in the kernel, instead of copying them (HTTP bodies are copied).",
            [](Proxy& p, bool on) { p.splice_request = p.splice_response = on; });
  negatable(kAll, "splice-request",
            "As splice-auto, for the bytes from the client to the server only.",
            [](Proxy& p, bool on) { p.splice_request = on; });
  negatable(kAll, "splice-response",
            "As splice-auto, for the bytes from the server to the client only.",
            [](Proxy& p, bool on) { p.splice_response = on; });
  negatable(kDefBe, "allbackups",
            "When no active server is up, balance over every backup server instead of using the "
            "first one only.",
            [](Proxy& p, bool on) { p.all_backups = on; });
  negatable(kDefFe, "tcp-smart-accept",
            "Accepted connections do not acknowledge the client's request at once but with the "
            "response (the kernel still does after 40 ms): one packet less per connection. On by "
            "default in HTTP mode, off in TCP mode.",
            [](Proxy& p, bool on) { p.tcp_smart_accept = on; });
  negatable(kDefBe, "tcp-smart-connect",
            "HTTP mode: a new server connection sends the request in place of the handshake's "
            "last ACK, one packet less per connection. Off by default.",
            [](Proxy& p, bool on) { p.tcp_smart_connect = on; });
  negatable(kDefFe, "dontlognull", "Do not log connections that sent no data.",
            [](Proxy& p, bool on) { p.dontlognull = on; });
  negatable(kAll, "http-keep-alive", "Keep client and server connections open (the default).",
            [](Proxy& p, bool) { p.http_conn_mode = HttpConnMode::kKeepAlive; });
  negatable(kAll, "http-server-close",
            "Close the server connection after each response; keep the client's.",
            [](Proxy& p, bool on) {
              p.http_conn_mode = on ? HttpConnMode::kServerClose : HttpConnMode::kKeepAlive;
            });
  negatable(kAll, "httpclose", "Close both connections after each response.",
            [](Proxy& p, bool on) {
              p.http_conn_mode = on ? HttpConnMode::kClose : HttpConnMode::kKeepAlive;
            });
  plain(kDefFe, "httplog", "[clf]", 1, "Log HTTP requests in haproxy's HTTP format.",
        [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
          if (!st.args.empty() && st.args[0].text != "clf") {
            d.error(st.args[0].where, fmt::format("unknown httplog format '{}'", st.args[0].text),
                    "write 'option httplog' or 'option httplog clf'");
            return;
          }
          c.p.httplog = true;
          c.p.tcplog = false;
        });
  plain(kAll, "tcplog", "", 0, "Log connections in haproxy's TCP format.",
        [](const Statement&, ProxyCtx& c, Diagnostics&) {
          c.p.tcplog = true;
          c.p.httplog = false;
        });
  plain(kAll, "forwardfor", "[except <NETWORK>] [header <NAME>] [if-none]", kUnbounded,
        "Add the client's address in X-Forwarded-For (HTTP mode).",
        [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
          ForwardFor f;
          f.enabled = true;
          const auto& a = st.args;
          for (size_t i = 0; i < a.size(); ++i) {
            const std::string& k = a[i].text;
            if (k == "if-none") {
              f.if_none = true;
              continue;
            }
            if ((k != "except" && k != "header") || i + 1 >= a.size()) {
              d.error(a[i].where,
                      k == "except" || k == "header"
                          ? fmt::format("'{}' needs a value", k)
                          : fmt::format("unknown 'option forwardfor' argument '{}'", k),
                      "usage: option forwardfor [except <NETWORK>] [header <NAME>] [if-none]");
              return;
            }
            const Word& v = a[++i];
            if (k == "header") {
              f.header = v.text;
              continue;
            }
            std::string_view net = v.text;
            size_t slash = net.find('/');
            std::string_view ip = net.substr(0, slash);
            bool ok = is_ip(ip, AF_INET) || is_ip(ip, AF_INET6);
            if (ok && slash != std::string_view::npos) {
              Word len{std::string(net.substr(slash + 1)), v.where, false};
              Diagnostics scratch;
              ok = conf::parse_uint(len, 0, is_ip(ip, AF_INET) ? 32 : 128, scratch, "").has_value();
            }
            if (!ok) {
              d.error(v.where, fmt::format("invalid network '{}'", v.text),
                      "write an address with an optional prefix length, e.g. 10.0.0.0/8");
              return;
            }
            f.except = v.text;
          }
          c.p.forwardfor = f;
        });
  plain(kDefBe, "httpchk", "[<METHOD>] [<URI>] [<VERSION>]", 3,
        "Check servers with an HTTP request (default OPTIONS / HTTP/1.0).",
        [](const Statement& st, ProxyCtx& c, Diagnostics&) {
          HttpCheck& h = c.p.http_check;
          h.enabled = true;
          const auto& a = st.args;
          if (a.size() == 1) {
            h.uri = a[0].text;  // one argument is the URI, as haproxy
          } else if (a.size() >= 2) {
            h.method = a[0].text;
            h.uri = a[1].text;
            if (a.size() == 3) h.version = a[2].text;
          }
        });
  for (auto [k, why] : std::initializer_list<std::pair<const char*, const char*>>{
           {"ssl-hello-chk", kNoTls},
           {"mysql-check", "only HTTP and connect checks are implemented"},
           {"pgsql-check", "only HTTP and connect checks are implemented"},
           {"redis-check", "only HTTP and connect checks are implemented"},
           {"smtpchk", "only HTTP and connect checks are implemented"},
           {"ldap-check", "only HTTP and connect checks are implemented"},
           {"spop-check", "only HTTP and connect checks are implemented"},
           {"tcp-check", "only HTTP and connect checks are implemented"},
           {"external-check", "external checks are not implemented"},
           {"httpslog", kNoTls},
           {"tcpka", "TCP keep-alive is not implemented"},
           {"clitcpka", "TCP keep-alive is not implemented"},
           {"srvtcpka", "TCP keep-alive is not implemented"},
           {"abortonclose", "not implemented"},
           {"http-buffer-request", "not implemented"},
           {"originalto", "not implemented; use forwardfor"},
           {"transparent", "transparent proxying is not implemented"},
           {"log-health-checks", "health check changes are always logged"},
           {"prefer-last-server", "not implemented"},
           {"http-pretend-keepalive", "not implemented"},
           {"http-no-delay", "not implemented"},
           {"accept-invalid-http-request", "tandem-lb parses HTTP strictly"},
           {"accept-invalid-http-response", "tandem-lb parses HTTP strictly"},
           {"http-use-proxy-header", "not implemented"},
           {"logasap", "not implemented"},
           {"log-separate-errors", "not implemented"},
           {"dontlog-normal", "not implemented"},
           {"contstats", "not implemented"},
           {"socket-stats", "not implemented"},
           {"independent-streams", "not implemented"},
           {"nolinger", "not implemented"},
           {"persist", "persistence is not implemented"},
           {"checkcache", "not implemented"},
           {"http-ignore-probes", "not implemented"},
       }) {
    t.table.add_unsupported(k, why);
  }
}

void Tables::add_timeout() {
  struct T {
    const char* name;
    unsigned caps;
    std::optional<Duration> Timeouts::*field;
    const char* doc;
  };
  for (const T& x : std::initializer_list<T>{
           {"connect", kDefBe, &Timeouts::connect, "Longest wait for a server to accept."},
           {"client", kDefFe, &Timeouts::client, "Longest client inactivity."},
           {"server", kDefBe, &Timeouts::server, "Longest server inactivity."},
           {"http-request", kAll, &Timeouts::http_request,
            "Longest wait for a whole request head; unset: timeout client."},
           {"http-keep-alive", kAll, &Timeouts::http_keep_alive,
            "Longest wait for the next request on a kept-alive connection; unset: "
            "http-request."},
           {"queue", kDefBe, &Timeouts::queue, "Longest wait in a server queue; unset: connect."},
           {"tunnel", kDefBe, &Timeouts::tunnel,
            "Inactivity limit once a connection is a tunnel (upgrade, CONNECT)."},
           {"check", kDefBe, &Timeouts::check,
            "Longest wait for a check's answer once connected; unset: inter."},
       }) {
    auto field = x.field;
    std::string what = std::string("timeout ") + x.name;
    timeout.add(x.caps, {.name = x.name,
                         .args_doc = "<TIME>",
                         .min_args = 1,
                         .max_args = 1,
                         .handler =
                             [field, what](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                               if (auto v = parse_time(st.args[0], d, what))
                                 c.p.timeouts.*field = *v;
                             },
                         .doc = x.doc});
  }
  timeout.table.add_unsupported("client-fin", "half-closed connections use timeout client");
  timeout.table.add_unsupported("server-fin", "half-closed connections use timeout server");
  timeout.table.add_unsupported("tarpit", "tarpit is not implemented");
  timeout.table.add_unsupported("contimeout", "removed from haproxy; write 'timeout connect'");
  timeout.table.add_unsupported("clitimeout", "removed from haproxy; write 'timeout client'");
  timeout.table.add_unsupported("srvtimeout", "removed from haproxy; write 'timeout server'");
}

void Tables::add_http_check() {
  http_check.add(
      kDefBe,
      {.name = "send",
       .args_doc = "[meth <M>] [uri <URI>] [ver <V>] [hdr <NAME> <VALUE>]... [body <STRING>]",
       .min_args = 0,
       .max_args = kUnbounded,
       .handler =
           [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
             HttpCheck& h = c.p.http_check;
             const auto& a = st.args;
             for (size_t i = 0; i < a.size(); ++i) {
               const std::string& k = a[i].text;
               size_t need = k == "hdr" ? 2 : 1;
               if (k != "meth" && k != "uri" && k != "ver" && k != "hdr" && k != "body") {
                 d.error(a[i].where, fmt::format("unknown 'http-check send' argument '{}'", k),
                         "arguments: meth, uri, ver, hdr, body");
                 return;
               }
               if (i + need >= a.size()) {
                 d.error(a[i].where, fmt::format("'{}' needs {}", k,
                                                 need == 2 ? "a name and a value" : "a value"));
                 return;
               }
               if (k == "meth") h.method = a[i + 1].text;
               if (k == "uri") h.uri = a[i + 1].text;
               if (k == "ver") h.version = a[i + 1].text;
               if (k == "body") h.body = a[i + 1].text;
               if (k == "hdr") h.headers.emplace_back(a[i + 1].text, a[i + 2].text);
               i += need;
             }
           },
       .doc = "The check request, 2.x style (needs option httpchk)."});
  http_check.add(
      kDefBe,
      {.name = "expect",
       .args_doc = "[!] status|rstatus|string|rstring <PATTERN>",
       .min_args = 2,
       .max_args = 3,
       .handler =
           [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
             HttpCheck::Expect e;
             e.where = st.where();
             size_t i = 0;
             if (st.args[0].text == "!") {
               e.negate = true;
               i = 1;
             }
             if (st.args.size() != i + 2) {
               d.error(st.where(), "'http-check expect' needs a match and a pattern",
                       "usage: http-check expect [!] status|rstatus|string|rstring <PATTERN>");
               return;
             }
             const std::string& m = st.args[i].text;
             using K = HttpCheck::Expect::Kind;
             if (m == "status") {
               e.kind = K::kStatus;
             } else if (m == "rstatus") {
               e.kind = K::kRstatus;
             } else if (m == "string") {
               e.kind = K::kString;
             } else if (m == "rstring") {
               e.kind = K::kRstring;
             } else {
               d.error(st.args[i].where, fmt::format("unknown 'http-check expect' match '{}'", m),
                       "matches: status, rstatus, string, rstring");
               return;
             }
             e.pattern = st.args[i + 1].text;
             if (e.kind == K::kStatus) {
               // "200", "200-399" or "200,302": digits, dashes and commas only
               bool ok = !e.pattern.empty() &&
                         std::all_of(e.pattern.begin(), e.pattern.end(), [](char ch) {
                           return (ch >= '0' && ch <= '9') || ch == '-' || ch == ',';
                         });
               if (!ok) {
                 d.error(st.args[i + 1].where,
                         fmt::format("invalid status pattern '{}'", e.pattern),
                         "write codes or ranges: 200, 200-399, 200,302");
                 return;
               }
             }
             c.p.http_check.expect = std::move(e);
           },
       .doc = "What a passing answer looks like; unset: a 2xx or 3xx status."});
  for (const char* k :
       {"connect", "comment", "disable-on-404", "send-state", "set-var", "unset-var"}) {
    http_check.table.add_unsupported(k, "not implemented");
  }
}

void Tables::add_stats() {
  auto& t = stats;
  proxy_flag(t, kAll, "enable", "Serve the statistics page at the stats uri.",
             [](ProxyCtx& c) { c.p.stats.enabled = true; });
  proxy_flag(t, kAll, "hide-version", "Do not show the version on the page.",
             [](ProxyCtx& c) { c.p.stats.hide_version = true; });
  t.add(kAll, {.name = "uri",
               .args_doc = "<PREFIX>",
               .min_args = 1,
               .max_args = 1,
               .handler =
                   [](const Statement& st, ProxyCtx& c, Diagnostics&) {
                     c.p.stats.enabled = true;
                     c.p.stats.uri = st.args[0].text;
                   },
               .doc = "Where the page is (default /haproxy?stats); implies enable."});
  t.add(kAll, {.name = "refresh",
               .args_doc = "<TIME>",
               .min_args = 1,
               .max_args = 1,
               .handler =
                   [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                     c.p.stats.enabled = true;
                     if (auto v = conf::parse_haproxy_time(st.args[0], d, "stats refresh",
                                                           conf::TimeUnit::kSeconds))
                       c.p.stats.refresh = to_ms(*v);
                   },
               .doc = "Ask browsers to reload the page this often (seconds unless a unit)."});
  t.add(kAll, {.name = "auth",
               .args_doc = "<USER>:<PASSWORD>",
               .min_args = 1,
               .max_args = 1,
               .handler =
                   [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                     const std::string& s = st.args[0].text;
                     size_t colon = s.find(':');
                     if (colon == std::string::npos || colon == 0) {
                       d.error(st.args[0].where, "stats auth needs USER:PASSWORD",
                               "write e.g. 'stats auth admin:secret'");
                       return;
                     }
                     c.p.stats.enabled = true;
                     c.p.stats.auth.emplace_back(s.substr(0, colon), s.substr(colon + 1));
                   },
               .doc = "A user allowed to see the page (basic authentication); implies enable."});
  t.add(kAll, {.name = "realm",
               .args_doc = "<REALM>",
               .min_args = 1,
               .max_args = 1,
               .handler =
                   [](const Statement& st, ProxyCtx& c, Diagnostics&) {
                     c.p.stats.enabled = true;
                     c.p.stats.realm = st.args[0].text;
                   },
               .doc = "The authentication realm shown by browsers."});
  t.add(kFeBe, {.name = "admin",
                .args_doc = "if|unless <CONDITION>",
                .min_args = 2,
                .max_args = kUnbounded,
                .handler =
                    [](const Statement& st, ProxyCtx& c, Diagnostics& d) {
                      std::optional<Condition> cond;
                      auto rest = split_condition(st.args, cond, d);
                      if (!rest.empty() || !cond) {
                        d.error(st.args[0].where, "'stats admin' needs 'if' or 'unless'",
                                "write e.g. 'stats admin if LOCALHOST'");
                        return;
                      }
                      c.p.stats.admin = std::move(cond);
                    },
                .doc = "When the page may change servers' states."});
  for (const char* k : {"scope", "show-desc", "show-legends", "show-node", "http-request",
                        "bind-process", "socket", "timeout", "maxconn"}) {
    t.table.add_unsupported(k, std::string_view(k) == "socket" || std::string_view(k) == "timeout"
                                   ? "'stats socket' and 'stats timeout' go in the global section"
                                   : "not implemented");
  }
}

// `deny [deny_status <CODE>]`, the same in http-request (403) and http-response (502).
void deny_kw(KeywordTable<HttpRule>& t, std::string_view rule, uint16_t default_status,
             std::string doc) {
  t.add({.name = "deny",
         .args_doc = "[deny_status <CODE>]",
         .min_args = 0,
         .max_args = 2,
         .handler =
             [rule = std::string(rule), default_status](const Statement& st, HttpRule& r,
                                                        Diagnostics& d) {
               r.action = HttpRule::Action::kDeny;
               r.status = default_status;
               if (st.args.empty()) return;
               if (st.args[0].text != "deny_status" || st.args.size() != 2) {
                 d.error(st.args[0].where,
                         fmt::format("unexpected '{}' after 'deny'", st.args[0].text),
                         fmt::format("usage: {} deny [deny_status <CODE>]", rule));
                 return;
               }
               if (auto v = parse_u32(st.args[1], 200, 599, d, "deny_status"))
                 r.status = static_cast<uint16_t>(*v);
             },
         .doc = std::move(doc)});
}

void Tables::add_http_rules() {
  auto header_kw = [](KeywordTable<HttpRule>& t, std::string name, HttpRule::Action a,
                      bool with_value, std::string doc) {
    t.add({.name = std::move(name),
           .args_doc = with_value ? "<NAME> <FORMAT>" : "<NAME>",
           .min_args = with_value ? 2u : 1u,
           .max_args = with_value ? 2u : 1u,
           .handler =
               [a, with_value](const Statement& st, HttpRule& r, Diagnostics&) {
                 r.action = a;
                 r.header = st.args[0].text;
                 if (with_value) r.value = st.args[1].text;
               },
           .doc = std::move(doc)});
  };
  for (auto* t : {&http_request, &http_response}) {
    header_kw(*t, "set-header", HttpRule::Action::kSetHeader, true,
              "Replace a header (the value is a log-format string).");
    header_kw(*t, "add-header", HttpRule::Action::kAddHeader, true, "Append a header.");
    header_kw(*t, "del-header", HttpRule::Action::kDelHeader, false,
              "Remove every header of this name.");
  }
  auto& rq = http_request;
  rq.add({.name = "allow",
          .handler = [](const Statement&, HttpRule& r,
                        Diagnostics&) { r.action = HttpRule::Action::kAllow; },
          .doc = "Stop evaluating http-request rules and let the request through."});
  deny_kw(rq, "http-request", 403, "Answer with an error (403 unless deny_status) and close.");
  rq.add({.name = "redirect",
          .args_doc = "location|prefix|scheme <TARGET> [code <CODE>] [<OPTION>...]",
          .min_args = 2,
          .max_args = kUnbounded,
          .handler =
              [](const Statement& st, HttpRule& r, Diagnostics& d) {
                r.action = HttpRule::Action::kRedirect;
                r.status = 302;
                const std::string& k = st.args[0].text;
                if (k == "location") {
                  r.redirect = HttpRule::RedirectKind::kLocation;
                } else if (k == "prefix") {
                  r.redirect = HttpRule::RedirectKind::kPrefix;
                } else if (k == "scheme") {
                  r.redirect = HttpRule::RedirectKind::kScheme;
                } else {
                  d.error(st.args[0].where, fmt::format("unknown redirect type '{}'", k),
                          "write location, prefix or scheme");
                  return;
                }
                r.value = st.args[1].text;
                for (size_t i = 2; i < st.args.size(); ++i) {
                  const std::string& o = st.args[i].text;
                  if (o == "code" && i + 1 < st.args.size()) {
                    auto v = conf::parse_uint(st.args[++i], 301, 308, d, "redirect code");
                    if (!v) return;
                    if (*v == 304 || *v == 305 || *v == 306) {
                      d.error(st.args[i].where, fmt::format("invalid redirect code {}", *v),
                              "codes: 301, 302, 303, 307, 308");
                      return;
                    }
                    r.status = static_cast<uint16_t>(*v);
                  } else if (o == "drop-query" || o == "append-slash") {
                    r.redirect_options.push_back(o);
                  } else if (o == "clear-cookie" && i + 1 < st.args.size()) {
                    r.redirect_options.push_back(o + " " + st.args[++i].text);
                  } else if (o == "set-cookie" && i + 1 < st.args.size()) {
                    r.redirect_options.push_back(o + " " + st.args[++i].text);
                  } else {
                    d.error(st.args[i].where, fmt::format("unknown redirect option '{}'", o),
                            "options: code <CODE>, drop-query, append-slash, set-cookie <NAME>, "
                            "clear-cookie <NAME>");
                    return;
                  }
                }
              },
          .doc = "Answer with a redirect (302 unless code)."});
  rq.add({.name = "return",
          .args_doc = "[status <CODE>] [content-type <TYPE>] [string|lf-string <TEXT>]",
          .min_args = 0,
          .max_args = 6,
          .handler =
              [](const Statement& st, HttpRule& r, Diagnostics& d) {
                r.action = HttpRule::Action::kReturn;
                r.status = 200;
                const auto& a = st.args;
                for (size_t i = 0; i < a.size(); i += 2) {
                  const std::string& k = a[i].text;
                  if (i + 1 >= a.size()) {
                    d.error(a[i].where, fmt::format("'{}' needs a value", k));
                    return;
                  }
                  if (k == "status") {
                    auto v = parse_u32(a[i + 1], 200, 599, d, "status");
                    if (!v) return;
                    r.status = static_cast<uint16_t>(*v);
                  } else if (k == "content-type") {
                    r.content_type = a[i + 1].text;
                  } else if (k == "string" || k == "lf-string") {
                    r.body = a[i + 1].text;
                    r.body_is_log_format = k == "lf-string";
                  } else {
                    d.error(a[i].where, fmt::format("unknown 'return' argument '{}'", k),
                            k == "file" || k == "lf-file" || k == "errorfile" ||
                                    k == "errorfiles" || k == "hdr"
                                ? fmt::format("'{}' is not supported by tandem-lb", k)
                                : "arguments: status, content-type, string, lf-string");
                    return;
                  }
                }
                if (r.body && r.content_type.empty()) {
                  d.error(st.where(), "'return' with a body needs a content-type",
                          "add e.g. content-type text/plain");
                }
              },
          .doc = "Answer from the proxy itself (status 200 unless given)."});
  rq.add({.name = "use-service",
          .args_doc = "prometheus-exporter",
          .min_args = 1,
          .max_args = 1,
          .handler =
              [](const Statement& st, HttpRule& r, Diagnostics& d) {
                r.action = HttpRule::Action::kUseService;
                const std::string& s = st.args[0].text;
                if (s != "prometheus-exporter") {
                  d.error(st.args[0].where,
                          fmt::format("service '{}' is not supported by {}", s, kProgram),
                          "the only service is prometheus-exporter");
                  return;
                }
                r.service = s;
              },
          .doc = "Answer with a built-in service: the Prometheus metrics."});
  for (auto* t : {&http_request, &http_response}) {
    for (const char* k : {"set-var",     "unset-var",        "set-path",      "set-query",
                          "set-uri",     "replace-header",   "replace-value", "replace-path",
                          "replace-uri", "set-log-level",    "capture",       "track-sc0",
                          "track-sc1",   "track-sc2",        "set-status",    "lua",
                          "cache-use",   "cache-store",      "auth",          "tarpit",
                          "set-map",     "del-map",          "add-acl",       "del-acl",
                          "set-src",     "set-method",       "early-hint",    "normalize-uri",
                          "reject",      "silent-drop",      "wait-for-body", "set-timeout",
                          "do-resolve",  "disable-l7-retry", "sc-inc-gpc0",   "set-mark",
                          "set-tos",     "send-spoe-group"}) {
      t->add_unsupported(k, "not implemented");
    }
  }
  http_response.add({.name = "allow",
                     .handler = [](const Statement&, HttpRule& r,
                                   Diagnostics&) { r.action = HttpRule::Action::kAllow; },
                     .doc = "Stop evaluating http-response rules."});
  deny_kw(http_response, "http-response", 502,
          "Replace the response with an error (502 unless deny_status).");
}

// Server parameters: each reads the words its entry's max_args says.
template <class F>
void server_kw(KeywordTable<ServerCtx>& t, std::string name, std::string args_doc, size_t n,
               std::string doc, F f) {
  t.add({.name = std::move(name),
         .args_doc = std::move(args_doc),
         .min_args = n,
         .max_args = n,
         .handler = std::move(f),
         .doc = std::move(doc)});
}

void Tables::add_server() {
  auto& t = server;
  server_kw(t, "check", "", 0, "Run health checks on the server.",
            [](const Statement&, ServerCtx& c, Diagnostics&) { c.params.check = true; });
  server_kw(t, "no-check", "", 0, "No health checks (undoes a default-server check).",
            [](const Statement&, ServerCtx& c, Diagnostics&) { c.params.check = false; });
  // `zero_ok`: 0 means "off" for this keyword rather than being an error.
  auto time_kw = [&t](std::string name, std::string doc, bool zero_ok,
                      std::function<void(ServerParams&, Duration)> set) {
    server_kw(t, name, "<TIME>", 1, std::move(doc),
              [name, zero_ok, set](const Statement& st, ServerCtx& c, Diagnostics& d) {
                auto v = parse_time(st.args[0], d, name);
                if (!v) return;
                if (v->count() == 0 && !zero_ok) {
                  d.error(st.args[0].where, fmt::format("'{}' cannot be 0", name),
                          "write a time of at least 1ms");
                  return;
                }
                set(c.params, *v);
              });
  };
  time_kw("inter", "Time between checks (default 2s).", false,
          [](ServerParams& p, Duration v) { p.inter = v; });
  time_kw("fastinter", "Time between checks while a state change is pending; unset: inter.", false,
          [](ServerParams& p, Duration v) { p.fastinter = v; });
  time_kw("downinter", "Time between checks while the server is down; unset: inter.", false,
          [](ServerParams& p, Duration v) { p.downinter = v; });
  time_kw("slowstart", "Ramp the weight up over this time after the server comes back.", true,
          [](ServerParams& p, Duration v) { p.slowstart = v; });
  time_kw("pool-purge-delay",
          "Every this long, close half of the idle connections beyond the need (default 5s; "
          "0: never).",
          true, [](ServerParams& p, Duration v) { p.pool_purge_delay = v; });
  auto count_kw = [&t](std::string name, uint64_t min, uint64_t max, std::string doc,
                       uint32_t ServerParams::*field) {
    server_kw(t, name, fmt::format("<{}..{}>", min, max), 1, std::move(doc),
              [=](const Statement& st, ServerCtx& c, Diagnostics& d) {
                if (auto v = parse_u32(st.args[0], min, max, d, name)) c.params.*field = *v;
              });
  };
  count_kw("rise", 1, 1000, "Passing checks before a down server is up (default 2).",
           &ServerParams::rise);
  count_kw("fall", 1, 1000, "Failing checks before an up server is down (default 3).",
           &ServerParams::fall);
  count_kw("weight", 0, 256, "Share of the load relative to the others (default 1).",
           &ServerParams::weight);
  count_kw("maxconn", 0, 10000000, "Most concurrent connections; more wait in the queue.",
           &ServerParams::maxconn);
  count_kw("maxqueue", 0, 10000000, "Most requests waiting for this server; 0: no limit.",
           &ServerParams::maxqueue);
  server_kw(t, "backup", "", 0, "Used only when no other server is up.",
            [](const Statement&, ServerCtx& c, Diagnostics&) { c.params.backup = true; });
  server_kw(t, "disabled", "", 0, "Start in maintenance (no traffic, no checks).",
            [](const Statement&, ServerCtx& c, Diagnostics&) { c.params.disabled = true; });
  server_kw(t, "enabled", "", 0, "Start in service (undoes a default-server disabled).",
            [](const Statement&, ServerCtx& c, Diagnostics&) { c.params.disabled = false; });
  server_kw(t, "port", "<PORT>", 1, "Send health checks to this port.",
            [](const Statement& st, ServerCtx& c, Diagnostics& d) {
              if (auto v = parse_u32(st.args[0], 1, 65535, d, "port"))
                c.params.check_port = static_cast<uint16_t>(*v);
            });
  server_kw(t, "addr", "<IP>", 1, "Send health checks to this address.",
            [](const Statement& st, ServerCtx& c, Diagnostics& d) {
              if (!is_ip(st.args[0].text, AF_INET) && !is_ip(st.args[0].text, AF_INET6)) {
                d.error(st.args[0].where,
                        fmt::format("invalid check address '{}'", st.args[0].text),
                        "write an IPv4 or IPv6 address");
                return;
              }
              c.params.check_addr = st.args[0].text;
            });
  for (const char* k : {"ssl", "verify", "ca-file", "crt", "sni", "alpn", "check-ssl", "check-sni",
                        "ciphers", "no-sslv3", "force-tlsv12"}) {
    t.add_unsupported(k, "TLS to servers is not supported yet");
  }
  for (const char* k : {"send-proxy", "send-proxy-v2", "check-send-proxy"}) {
    t.add_unsupported(k, "the PROXY protocol is not implemented");
  }
  for (const char* k : {"cookie",      "resolvers",  "resolve-prefer", "init-addr",
                        "agent-check", "agent-port", "agent-inter",    "observe",
                        "error-limit", "on-error",   "on-marked-down", "on-marked-up",
                        "track",       "id",         "redir",          "source",
                        "proto",       "minconn",    "pool-max-conn",  "tfo",
                        "namespace",   "usesrc",     "socks4",         "check-proto",
                        "max-reuse"}) {
    t.add_unsupported(k, "not implemented");
  }
}

void Tables::add_bind() {
  auto& t = bind;
  t.add({.name = "name",
         .args_doc = "<NAME>",
         .min_args = 1,
         .max_args = 1,
         .handler = [](const Statement& st, Bind& b, Diagnostics&) { b.name = st.args[0].text; },
         .doc = "A name for logs and statistics."});
  t.add({.name = "v4v6",
         .handler = [](const Statement&, Bind& b, Diagnostics&) { b.v6only = false; },
         .doc = "An IPv6 wildcard also takes IPv4 connections."});
  t.add({.name = "v6only",
         .handler = [](const Statement&, Bind& b, Diagnostics&) { b.v6only = true; },
         .doc = "An IPv6 socket takes IPv6 connections only."});
  t.add({.name = "backlog",
         .args_doc = "<N>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, Bind& b, Diagnostics& d) {
               if (auto v = parse_u32(st.args[0], 1, 1000000, d, "backlog")) b.backlog = *v;
             },
         .doc = "The listen(2) backlog; unset: the frontend's maxconn."});
  t.add({.name = "maxconn",
         .args_doc = "<N>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, Bind& b, Diagnostics& d) {
               if (auto v = parse_u32(st.args[0], 1, 10000000, d, "maxconn")) b.maxconn = *v;
             },
         .doc = "Most concurrent connections on this listener."});
  t.add({.name = "mode",
         .args_doc = "<OCTAL>",
         .min_args = 1,
         .max_args = 1,
         .handler =
             [](const Statement& st, Bind& b, Diagnostics& d) {
               const std::string& v = st.args[0].text;
               char* end = nullptr;
               unsigned long m = std::strtoul(v.c_str(), &end, 8);
               if (v.empty() || *end != '\0' || m > 07777) {
                 d.error(st.args[0].where, fmt::format("bad socket mode '{}'", v),
                         "write octal permissions such as 660");
                 return;
               }
               b.mode = static_cast<uint32_t>(m);
             },
         .doc = "unix@ sockets: the socket file's permissions, in octal (660)."});
  auto id_option = [&t](const char* name, bool user, bool numeric) {
    t.add({.name = name,
           .args_doc = numeric ? "<ID>" : "<NAME>",
           .min_args = 1,
           .max_args = 1,
           .handler =
               [name, user, numeric](const Statement& st, Bind& b, Diagnostics& d) {
                 const std::string& v = st.args[0].text;
                 std::optional<uint32_t> id;
                 if (numeric) {
                   id = parse_u32(st.args[0], 0, 0xfffffffe, d, name);
                   if (!id) return;
                 } else if (user) {
                   if (const passwd* pw = ::getpwnam(v.c_str())) id = pw->pw_uid;
                 } else if (const group* gr = ::getgrnam(v.c_str())) {
                   id = gr->gr_gid;
                 }
                 if (!id) {
                   d.error(st.args[0].where,
                           fmt::format("unknown {} '{}'", user ? "user" : "group", v),
                           "name an existing one, or give the number with uid/gid");
                   return;
                 }
                 (user ? b.uid : b.gid) = *id;
               },
           .doc = fmt::format("unix@ sockets: the socket file's {} ({}).", user ? "owner" : "group",
                              numeric ? "a number" : "a name")});
  };
  id_option("user", true, false);
  id_option("uid", true, true);
  id_option("group", false, false);
  id_option("gid", false, true);
  for (const char* k : {"ssl", "crt", "crt-list", "ca-file", "alpn", "npn", "ciphers",
                        "ciphersuites", "ssl-min-ver", "ssl-max-ver", "verify", "strict-sni",
                        "no-sslv3", "no-tlsv10", "no-tlsv11", "curves", "ecdhe", "quic"}) {
    t.add_unsupported(k, "TLS termination not supported yet: terminate TLS in front of tandem-lb");
  }
  for (const char* k : {"accept-proxy", "accept-netscaler-cip"}) {
    t.add_unsupported(k, "the PROXY protocol is not implemented");
  }
  for (const char* k :
       {"transparent", "interface", "namespace", "defer-accept", "tfo", "mss", "process", "thread",
        "id", "nice", "level", "tcp-ut", "severity-output", "expose-fd", "proto", "allow-0rtt"}) {
    t.add_unsupported(k, "not implemented for bind lines");
  }
}

const Tables& tables() {
  static const Tables t;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Sections, inheritance and the checks that need the whole file.

constexpr std::array<std::string_view, 12> kOtherSections = {
    "userlist", "peers",       "mailers", "resolvers", "program",   "http-errors",
    "ring",     "log-forward", "cache",   "fcgi-app",  "crt-store", "traces"};

class Builder {
 public:
  explicit Builder(Diagnostics& d) : d_(d) {}

  void line(const Line& l) {
    const Word& kw = l.words.front();
    if (!kw.quoted) {
      const std::string& k = kw.text;
      if (k == "global") return start_global(l);
      if (k == "defaults") return start_proxy(l, Proxy::Kind::kDefaults);
      if (k == "frontend") return start_proxy(l, Proxy::Kind::kFrontend);
      if (k == "backend") return start_proxy(l, Proxy::Kind::kBackend);
      if (k == "listen") return start_proxy(l, Proxy::Kind::kListen);
      if (one_of(kOtherSections, k)) {
        close_proxy();
        section_ = Section::kSkipped;
        d_.error(kw.where, fmt::format("section '{}' is not supported by {}", k, kProgram),
                 "its lines are skipped; remove the section or move it into a false '.if' "
                 "block");
        return;
      }
    }
    switch (section_) {
      case Section::kNone:
        d_.error(kw.where, fmt::format("'{}' outside of any section", kw.text),
                 "start a section first: global, defaults, frontend, backend or listen");
        return;
      case Section::kSkipped:
        return;
      case Section::kGlobal:
        return global_line(l);
      case Section::kProxy:
        return proxy_line(l);
    }
  }

  Config finish() {
    close_proxy();
    cfg_.global = std::move(global_.g);
    check_references();
    check_server_state_files();
    return std::move(cfg_);
  }

 private:
  enum class Section { kNone, kGlobal, kProxy, kSkipped };

  void start_global(const Line& l) {
    close_proxy();
    section_ = Section::kGlobal;
    if (l.words.size() > 1) {
      d_.error(l.words[1].where, "'global' takes no argument", "the global section has no name");
    }
  }

  // A line starting with 'no' that the section does not take; `hint` says which it does.
  void no_not_supported(const Statement& st, const char* hint) {
    d_.error(
        st.where(),
        fmt::format("'no {}' is not supported", st.args.empty() ? std::string() : st.args[0].text),
        hint);
  }

  void global_line(const Line& l) {
    const Statement st = Statement::of(l);
    const auto& t = tables();
    const std::string& k = st.keyword->text;
    if (k == "no") {
      if (st.args.size() == 1 && st.args[0].text == "busy-polling") {
        global_.g.busy_polling = false;
      } else {
        no_not_supported(st, "in the global section only 'no busy-polling' may start with 'no'");
      }
      return;
    }
    if (t.global.find(k) == nullptr) {
      auto it = t.proxy.caps.find(k);
      if (it != t.proxy.caps.end()) {
        d_.error(st.where(), fmt::format("'{}' is not allowed in the global section", k),
                 fmt::format("it is valid in {} sections", caps_list(it->second)));
        return;
      }
    }
    t.global.dispatch(st, global_, d_);
  }

  void start_proxy(const Line& l, Proxy::Kind kind) {
    close_proxy();
    section_ = Section::kProxy;
    const auto& w = l.words;
    const char* usage = kind == Proxy::Kind::kDefaults
                            ? "usage: defaults [<NAME>] [from <DEFAULTS>]"
                            : "usage: <SECTION> <NAME> [from <DEFAULTS>]";
    std::string name;
    const Word* from = nullptr;
    size_t i = 1;
    if (i < w.size() && !(w[i].text == "from" && i + 1 < w.size() && !w[i].quoted &&
                          kind == Proxy::Kind::kDefaults)) {
      name = w[i++].text;
    }
    if (i < w.size()) {
      if (w[i].text != "from" || i + 1 >= w.size() || i + 2 < w.size()) {
        d_.error(w[i].where,
                 fmt::format("unexpected '{}' after the {} name",
                             w[std::min(i + 2, w.size() - 1)].text, to_string(kind)),
                 usage);
      } else {
        from = &w[i + 1];
      }
    }
    Proxy p;
    const Proxy* base = nullptr;
    if (from != nullptr) {
      for (auto it = cfg_.defaults.rbegin(); it != cfg_.defaults.rend(); ++it) {
        if (it->name == from->text) {
          base = &*it;
          break;
        }
      }
      if (base == nullptr) {
        d_.error(from->where, fmt::format("defaults section '{}' not found", from->text),
                 "'from' names a defaults section written before this one");
      }
    } else if (kind != Proxy::Kind::kDefaults && !cfg_.defaults.empty()) {
      base = &cfg_.defaults.back();
    }
    if (base != nullptr) {
      p = *base;
      p.defaults = base->name;
    }
    p.kind = kind;
    p.name = name;
    p.where = l.where;
    if (kind != Proxy::Kind::kDefaults) {
      if (name.empty()) {
        d_.error(l.where, fmt::format("{} section without a name", to_string(kind)), usage);
      } else if (!valid_name(name)) {
        d_.error(w[1].where, fmt::format("invalid {} name '{}'", to_string(kind), name),
                 "names use letters, digits, '-', '_', '.' and ':'");
      } else {
        for (const Proxy& other : cfg_.proxies) {
          // A frontend and a backend may share a name, as haproxy allows.
          const bool clash = ((other.is_frontend() &&
                               (kind == Proxy::Kind::kFrontend || kind == Proxy::Kind::kListen)) ||
                              (other.is_backend() &&
                               (kind == Proxy::Kind::kBackend || kind == Proxy::Kind::kListen)));
          if (clash && other.name == name) {
            d_.error(w[1].where,
                     fmt::format("{} '{}' has the same name as {} '{}'", to_string(kind), name,
                                 to_string(other.kind), other.name),
                     fmt::format("the other one is at {}; rename one", other.where.to_string()));
            break;
          }
        }
      }
      if (!p.is_frontend()) {
        p.default_backend.clear();
        p.maxconn = 0;
      }
    }
    cur_ = std::move(p);
  }

  void proxy_line(const Line& l) {
    const Statement st = Statement::of(l);
    const auto& t = tables();
    Proxy& p = *cur_;
    ProxyCtx c{p};
    const std::string& k = st.keyword->text;
    if (k == "no") {
      if (st.args.size() >= 2 && st.args[0].text == "option") {
        c.negated = true;
        t.option.dispatch(st.shifted().shifted(), c, p.kind, d_);
      } else if (st.args.size() == 1 && st.args[0].text == "log") {
        p.logs.clear();
        p.log_global = false;
      } else {
        no_not_supported(st, "only 'no option <NAME>' and 'no log' may start with 'no'");
      }
      return;
    }
    const bool unsupported =
        std::any_of(t.proxy.table.unsupported().begin(), t.proxy.table.unsupported().end(),
                    [&](const auto& u) { return u.name == k; });
    if (t.proxy.table.find(k) == nullptr && !unsupported) {
      if (t.global.find(k) != nullptr) {
        d_.error(st.where(),
                 fmt::format("'{}' is not allowed in a {} section", k, to_string(p.kind)),
                 "it belongs in the global section");
        return;
      }
      std::string hint;
      if (auto s = t.proxy.table.suggest(k)) hint = fmt::format("did you mean '{}'?", *s);
      d_.error(st.where(),
               fmt::format("unknown keyword '{}' in {} section{}", k, to_string(p.kind),
                           p.name.empty() ? "" : " '" + p.name + "'"),
               std::move(hint));
      return;
    }
    t.proxy.dispatch(st, c, p.kind, d_);
  }

  void close_proxy() {
    if (!cur_) return;
    Proxy p = std::move(*cur_);
    cur_.reset();
    for (Server& s : p.servers) {
      if (!s.params.fastinter) s.params.fastinter = s.params.inter;
      if (!s.params.downinter) s.params.downinter = s.params.inter;
    }
    if (p.kind == Proxy::Kind::kDefaults) {
      cfg_.defaults.push_back(std::move(p));
      return;
    }
    const std::string what = fmt::format("{} '{}'", to_string(p.kind), p.name);
    if (p.is_frontend() && p.binds.empty()) {
      d_.warning(p.where, fmt::format("{} has no 'bind' directive", what),
                 "add a bind line, or declare it as a backend if this was intended");
    }
    if (p.kind == Proxy::Kind::kBackend && p.servers.empty()) {
      d_.warning(p.where, fmt::format("{} has no server", what),
                 "every request it gets is answered with 503");
    }
    const bool missing = (p.is_frontend() && !p.timeouts.client) ||
                         (p.is_backend() && (!p.timeouts.connect || !p.timeouts.server));
    if (missing) {
      d_.warning(p.where, fmt::format("missing timeouts for {}", what),
                 "set 'timeout client', 'timeout connect' and 'timeout server' (e.g. in "
                 "defaults); without them idle connections are never closed");
    }
    if (p.mode == Mode::kTcp) {
      if (p.is_frontend() && p.httplog) {
        d_.warning(p.where, fmt::format("'option httplog' not usable with {} (needs 'mode http'); "
                                        "falling back to 'option tcplog'",
                                        what));
        p.httplog = false;
        p.tcplog = true;
      }
      if (!p.http_request.empty()) {
        d_.warning(
            p.http_request.front().where,
            fmt::format("'http-request' rules ignored for {} as they require HTTP mode", what));
      }
      if (!p.http_response.empty()) {
        d_.warning(
            p.http_response.front().where,
            fmt::format("'http-response' rules ignored for {} as they require HTTP mode", what));
      }
    }
    cfg_.proxies.push_back(std::move(p));
  }

  void check_reference(const Proxy& fe, const std::string& name, const core::SourceLocation& where,
                       std::string_view how) {
    const Proxy* be = cfg_.find_backend(name);
    if (be == nullptr) {
      std::vector<std::string> names;
      for (const Proxy& p : cfg_.proxies) {
        if (p.is_backend()) names.push_back(p.name);
      }
      d_.error(where,
               fmt::format("{} '{}' uses unknown backend '{}' as its {}", to_string(fe.kind),
                           fe.name, name, how),
               names.empty() ? std::string("there is no backend or listen section")
                             : fmt::format("backends: {}", fmt::join(names, ", ")));
      return;
    }
    if (fe.mode == Mode::kHttp && be->mode == Mode::kTcp) {
      d_.error(where,
               fmt::format("http {} '{}' tries to use incompatible tcp backend '{}' ({}) as its {} "
                           "(see 'mode')",
                           to_string(fe.kind), fe.name, be->name, be->where.to_string(), how),
               "give both the same mode");
    } else if (fe.mode == Mode::kTcp && be->mode == Mode::kHttp) {
      d_.error(where,
               fmt::format("tcp {} '{}' uses http backend '{}' ({}) as its {}", to_string(fe.kind),
                           fe.name, be->name, be->where.to_string(), how),
               "tandem-lb does not upgrade TCP connections to HTTP: give both the same mode");
    }
  }

  void check_references() {
    for (const Proxy& p : cfg_.proxies) {
      if (!p.is_frontend()) continue;
      for (const BackendRule& r : p.use_backends) {
        check_reference(p, r.backend, r.where, "use_backend");
      }
      if (!p.default_backend.empty()) {
        check_reference(p, p.default_backend, p.where, "default_backend");
      }
    }
  }

  // 'load-server-state-from-file global' without a global file loads nothing (haproxy says
  // nothing; a warning tells why the states do not come back).
  void check_server_state_files() {
    if (!cfg_.global.server_state_file.empty()) return;
    std::set<std::string> warned;  // one warning per line, also when it is in defaults
    for (const Proxy& p : cfg_.proxies) {
      if (p.is_backend() && p.load_server_state == Proxy::ServerStateFrom::kGlobal &&
          warned.insert(p.load_server_state_where.to_string()).second) {
        d_.warning(p.load_server_state_where,
                   fmt::format("backend '{}' loads server states from the global file, but no "
                               "'server-state-file' is set in the global section",
                               p.name),
                   "add 'server-state-file FILE' to the global section");
      }
    }
  }

  Diagnostics& d_;
  Section section_ = Section::kNone;
  GlobalDraft global_;
  Config cfg_;
  std::optional<Proxy> cur_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string_view to_string(Mode m) {
  return m == Mode::kHttp ? "http" : "tcp";
}

std::string_view to_string(Proxy::Kind k) {
  switch (k) {
    case Proxy::Kind::kDefaults:
      return "defaults";
    case Proxy::Kind::kFrontend:
      return "frontend";
    case Proxy::Kind::kBackend:
      return "backend";
    case Proxy::Kind::kListen:
      return "listen";
  }
  return "?";
}

std::string_view to_string(Balance::Algorithm a) {
  using A = Balance::Algorithm;
  switch (a) {
    case A::kRoundRobin:
      return "roundrobin";
    case A::kStaticRr:
      return "static-rr";
    case A::kLeastConn:
      return "leastconn";
    case A::kFirst:
      return "first";
    case A::kSource:
      return "source";
    case A::kUri:
      return "uri";
    case A::kHdr:
      return "hdr";
    case A::kRandom:
      return "random";
  }
  return "?";
}

std::string Address::to_string() const {
  switch (kind) {
    case Kind::kUnix:
      return "unix@" + host;
    case Kind::kAbns:
      return "abns@" + host;
    case Kind::kFd:
      return fmt::format("fd@{}", fd);
    case Kind::kIpv6: {
      std::string ports = port_last != port_first ? fmt::format("{}-{}", port_first, port_last)
                                                  : fmt::format("{}", port_first);
      return fmt::format("[{}]:{}", host, ports);
    }
    case Kind::kIpv4:
    case Kind::kName:
      break;
  }
  std::string ports = port_last != port_first ? fmt::format("{}-{}", port_first, port_last)
                                              : fmt::format("{}", port_first);
  return fmt::format("{}:{}", host, ports);
}

const Proxy* Config::find_backend(std::string_view name) const {
  for (const Proxy& p : proxies) {
    if (p.is_backend() && p.name == name) return &p;
  }
  return nullptr;
}

const Proxy* Config::find_frontend(std::string_view name) const {
  for (const Proxy& p : proxies) {
    if (p.is_frontend() && p.name == name) return &p;
  }
  return nullptr;
}

Config build_config(const std::vector<conf::Line>& lines, core::Diagnostics& diags,
                    const conf::EnvLookup& env) {
  Builder b(diags);
  for (const Line& l : filter_cond_blocks(lines, diags, env)) b.line(l);
  return b.finish();
}

Config load_config(const std::vector<std::string>& paths, core::Diagnostics& diags,
                   const conf::EnvLookup& env) {
  Builder b(diags);
  for (const std::string& path : conf::haproxy_config_files(paths, diags)) {
    auto name = std::make_shared<const std::string>(path);
    auto text = conf::read_text_file(path);
    if (!text) {
      diags.error(core::SourceLocation{name, 0, 0}, text.error().to_string(),
                  "check the path given with -f and its permissions");
      continue;
    }
    // The lexer's diagnostics go through `pending` so that warnings about a line inside a
    // false .if block (an unset variable, say) can be dropped, as haproxy never reads it.
    core::Diagnostics pending;
    CondBlocks blocks(env);
    auto flush = [&](uint32_t skip_line) {
      for (const core::Diagnostic& x : pending.all()) {
        if (x.severity != core::Severity::kError && x.where.line == skip_line) continue;
        diags.add(x);
      }
      pending = core::Diagnostics();
    };
    conf::lex_haproxy(*text, name, pending, env, [&](Line&& l) {
      const bool directive = !l.words.front().quoted && !l.words.front().text.empty() &&
                             l.words.front().text[0] == '.';
      flush(!directive && !blocks.active() ? l.where.line : 0);
      if (blocks.feed(l, diags)) b.line(l);
    });
    flush(0);
    blocks.finish(diags);
  }
  return b.finish();
}

std::string keyword_reference_markdown() {
  const Tables& t = tables();
  std::string out;
  out += t.global.markdown(3);
  out +=
      "### Proxy sections\n\nColumns d, f, l, b: valid in defaults, frontend, listen, "
      "backend sections.\n\n";
  out += t.proxy.markdown(4);
  out += t.option.markdown(4);
  out += t.timeout.markdown(4);
  out += t.http_check.markdown(4);
  out += t.stats.markdown(4);
  out += t.http_request.markdown(4);
  out += t.http_response.markdown(4);
  out += t.server.markdown(4);
  out += t.bind.markdown(4);
  return out;
}

}  // namespace tandem::lb
