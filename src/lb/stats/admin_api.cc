#include "lb/stats/admin_api.h"

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "lb/stats/csv.h"

namespace tandem::lb::stats {
namespace {

// haproxy's texts, word for word.
constexpr std::string_view kDenied = "Permission denied\n";
constexpr std::string_view kRequireBackendServer = "Require 'backend/server'.\n";
constexpr std::string_view kNoSuchBackend = "No such backend.\n";
constexpr std::string_view kNoSuchServer = "No such server.\n";

struct HelpLine {
  std::string_view words;  // the command's leading words, to match `help WORDS` and typos
  std::string_view usage;
  std::string_view text;
  Level level;
};

// haproxy lists its commands alphabetically, then help, prompt and quit.
constexpr std::array<HelpLine, 16> kHelp = {{
    {"disable server", "disable server (DEPRECATED)",
     "disable a server for maintenance (use 'set server' instead)", Level::kAdmin},
    {"enable server", "enable server  (DEPRECATED)",
     "enable a disabled server (use 'set server' instead)", Level::kAdmin},
    {"get weight", "get weight <bk>/<srv>", "report a server's current weight", Level::kUser},
    {"operator", "operator", "lower the level of the current CLI session to operator",
     Level::kOperator},
    {"set maxconn server", "set maxconn server <bk>/<srv>", "change a server's maxconn setting",
     Level::kAdmin},
    {"set server", "set server <bk>/<srv> [opts]", "change a server's state or weight",
     Level::kAdmin},
    {"set weight", "set weight <bk>/<srv>  (DEPRECATED)",
     "change a server's weight (use 'set server' instead)", Level::kAdmin},
    {"show cli level", "show cli level", "display the level of the current CLI session",
     Level::kUser},
    {"show info", "show info", "report information about the running process", Level::kUser},
    {"show servers state", "show servers state [<backend>]",
     "dump volatile server information (all or for a single backend)", Level::kUser},
    {"show stat", "show stat [no-maint|up]*", "report counters for each proxy and server",
     Level::kUser},
    {"shutdown sessions server", "shutdown sessions server <bk>/<srv>", "kill sessions on a server",
     Level::kAdmin},
    {"user", "user", "lower the level of the current CLI session to user", Level::kUser},
    {"help", "help [<command>]", "list matching or all commands", Level::kUser},
    {"prompt", "prompt", "toggle interactive mode with prompt", Level::kUser},
    {"quit", "quit", "disconnect", Level::kUser},
}};

std::string help_line(const HelpLine& h) {
  return fmt::format("  {:<40}: {}\n", h.usage, h.text);
}

// True when `args` begins with the words of `words`.
bool starts_with_words(const std::vector<std::string>& args, std::string_view words) {
  size_t i = 0;
  while (!words.empty()) {
    const size_t sp = words.find(' ');
    const std::string_view w = words.substr(0, sp);
    if (i >= args.size() || args[i] != w) return false;
    ++i;
    words = sp == std::string_view::npos ? std::string_view{} : words.substr(sp + 1);
  }
  return true;
}

std::string unknown_command(const std::vector<std::string>& args, Level level) {
  std::string out = "Unknown command, but maybe one of the following ones is a better match:\n";
  std::string matches;
  for (const auto& h : kHelp) {
    if (h.level > level || h.words == "help" || h.words == "prompt" || h.words == "quit") continue;
    if (h.words.substr(0, h.words.find(' ')) == args[0]) matches += help_line(h);
  }
  if (matches.empty()) {
    for (const auto& h : kHelp) {
      if (h.level <= level && h.words != "help" && h.words != "prompt" && h.words != "quit") {
        matches += help_line(h);
      }
    }
  }
  out += matches;
  for (const auto& h : kHelp) {
    if (h.words == "help" || h.words == "prompt" || h.words == "quit") out += help_line(h);
  }
  return out;
}

// strtol over the whole word, as haproxy reads numbers: `end` is where the digits stopped.
struct Number {
  long value = 0;
  std::string_view rest;  // what follows the number
  bool empty = true;      // no digits at the start
  bool overflow = false;
};
Number parse_number(const std::string& s) {
  Number n;
  errno = 0;
  char* end = nullptr;
  n.value = std::strtol(s.c_str(), &end, 10);
  n.overflow = errno == ERANGE;
  n.empty = end == s.c_str();
  n.rest = std::string_view(s).substr(static_cast<size_t>(end - s.c_str()));
  return n;
}

// haproxy's server_parse_weight_change_request: the new weight, or its message.
core::Result<uint32_t> parse_weight(const std::string& arg, const ProxyView& px,
                                    const ServerView& sv) {
  if (arg.empty()) return core::fail("Require <weight> or <weight%>.\n");
  const Number n = parse_number(arg);
  long w = n.value;
  if (n.empty) return core::fail("Empty weight string empty or preceded by garbage");
  if (n.rest == "%") {
    if (w < 0) return core::fail("Relative weight must be positive.\n");
    if (w > 25600 || n.overflow) w = 25600;
    w = static_cast<long>(sv.initial_weight) * w / 100;
    if (w > 256) w = 256;
  } else if (w < 0 || w > 256 || n.overflow) {
    return core::fail("Absolute weight can only be between 0 and 256 inclusive.\n");
  } else if (!n.rest.empty()) {
    return core::fail("Trailing garbage in weight string");
  }
  if (w != 0 && static_cast<uint32_t>(w) != sv.initial_weight && px.static_weights) {
    return core::fail(
        "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n");
  }
  return static_cast<uint32_t>(w);
}

// haproxy's server_parse_maxconn_change_request, but a negative or too large value is refused
// (haproxy 2.6 takes -1 and wraps it into a huge limit).
core::Result<uint32_t> parse_maxconn(const std::string& arg) {
  const Number n = parse_number(arg);
  if (n.empty) return core::fail("maxconn string empty or preceded by garbage");
  if (!n.rest.empty()) return core::fail("Trailing garbage in maxconn string");
  if (n.value < 0 || n.overflow || n.value > static_cast<long>(UINT32_MAX)) {
    return core::fail("maxconn must be between 0 and 4294967295.\n");
  }
  return static_cast<uint32_t>(n.value);
}

// A "backend/server" argument resolved against the view.
struct Target {
  const ProxyView* proxy = nullptr;
  const ServerView* server = nullptr;
};
core::Result<Target> find_server(const StatsView& view, const std::vector<std::string>& args,
                                 size_t index) {
  if (index >= args.size()) return core::fail(std::string(kRequireBackendServer));
  const std::string& arg = args[index];
  const size_t slash = arg.find('/');
  if (slash == std::string::npos) return core::fail(std::string(kRequireBackendServer));
  Target t;
  t.proxy = view.find_backend(std::string_view(arg).substr(0, slash));
  if (!t.proxy) return core::fail(std::string(kNoSuchBackend));
  t.server = t.proxy->find_server(std::string_view(arg).substr(slash + 1));
  if (!t.server) return core::fail(std::string(kNoSuchServer));
  return t;
}

std::string message(const core::Result<void>& r) {
  return r ? std::string() : r.error().message;
}

}  // namespace

std::optional<Level> parse_level(std::string_view s) {
  if (s == "user") return Level::kUser;
  if (s == "operator") return Level::kOperator;
  if (s == "admin") return Level::kAdmin;
  return std::nullopt;
}

std::string_view to_string(Level l) {
  switch (l) {
    case Level::kUser:
      return "user";
    case Level::kOperator:
      return "operator";
    case Level::kAdmin:
      return "admin";
  }
  return "?";
}

std::string help_text(Level level) {
  std::string out = "The following commands are valid at this level:\n";
  for (const auto& h : kHelp) {
    if (h.level <= level) out += help_line(h);
  }
  return out;
}

std::vector<std::vector<std::string>> split_commands(std::string_view line) {
  std::vector<std::vector<std::string>> commands(1);
  std::string word;
  bool in_word = false;
  auto end_word = [&] {
    if (in_word) commands.back().push_back(std::move(word));
    word.clear();
    in_word = false;
  };
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ';') {
      end_word();
      commands.emplace_back();
    } else if (c == ' ' || c == '\t' || c == '\r') {
      end_word();
    } else {
      word += c;
      in_word = true;
    }
  }
  end_word();
  std::erase_if(commands, [](const auto& c) { return c.empty(); });
  return commands;
}

CliSession::Reply CliSession::handle_line(std::string_view line) {
  Reply reply;
  for (const auto& args : split_commands(line)) {
    if (quit_) break;
    reply.text += execute(args);
    if (!quit_) reply.text += '\n';
  }
  if (interactive_ && !quit_) reply.text += "> ";
  reply.close = quit_ || !interactive_;
  return reply;
}

std::string CliSession::execute(const std::vector<std::string>& args) {
  if (args.empty()) return {};
  const auto is = [&](std::string_view words) { return starts_with_words(args, words); };
  const bool admin = level_ == Level::kAdmin;

  if (is("help")) {
    if (args.size() == 1) return help_text(level_);
    std::vector<std::string> rest(args.begin() + 1, args.end());
    std::string out = "The following commands are valid at this level:\n";
    for (const auto& h : kHelp) {
      const std::vector<std::string> words = split_commands(h.words).front();
      bool match = true;
      for (size_t i = 0; i < rest.size() && match; ++i) {
        match = i < words.size() && words[i] == rest[i];
      }
      if (match && h.level <= level_) out += help_line(h);
    }
    return out;
  }
  if (is("prompt")) {
    interactive_ = !interactive_;
    return {};
  }
  if (is("quit")) {
    quit_ = true;
    return {};
  }
  if (is("operator")) {
    if (level_ < Level::kOperator) return std::string(kDenied);
    level_ = Level::kOperator;
    return {};
  }
  if (is("user")) {
    level_ = Level::kUser;
    return {};
  }
  if (is("show cli level")) return fmt::format("{}\n", to_string(level_));
  if (is("show info")) {
    for (size_t i = 2; i < args.size(); ++i) {
      if (args[i] == "json" || args[i] == "typed") {
        return fmt::format("'show info {}' is not supported by tandem-lb yet.\n", args[i]);
      }
    }
    return render_info(target_.view());
  }
  if (is("show stat")) {
    CsvOptions o;
    o.show_legends = level_ >= Level::kOperator;
    for (size_t i = 2; i < args.size(); ++i) {
      if (args[i] == "no-maint") o.no_maint = true;
      if (args[i] == "up") o.up_only = true;
      if (args[i] == "json" || args[i] == "typed") {
        return fmt::format("'show stat {}' is not supported by tandem-lb yet.\n", args[i]);
      }
    }
    return render_csv(target_.view(), o);
  }
  if (is("show servers state")) {
    const StatsView view = target_.view();
    if (args.size() > 3 && !view.find_backend(args[3])) return "Can't find backend.\n";
    return render_servers_state(view, args.size() > 3 ? args[3] : std::string());
  }
  if (is("get weight")) {
    const StatsView view = target_.view();
    auto t = find_server(view, args, 2);
    if (!t) return t.error().message;
    return fmt::format("{} (initial {})\n", t->server->weight, t->server->initial_weight);
  }
  if (is("disable server") || is("enable server")) {
    if (!admin) return std::string(kDenied);
    const StatsView view = target_.view();
    auto t = find_server(view, args, 2);
    if (!t) return t.error().message;
    AdminState next = AdminState::kMaint;
    if (args[0] == "enable") {
      // `enable server` only leaves maintenance; a drained server stays drained.
      next = t->server->admin == AdminState::kMaint ? AdminState::kReady : t->server->admin;
    }
    return message(target_.set_admin_state(t->proxy->name, t->server->name, next));
  }
  if (is("set weight")) {
    if (!admin) return std::string(kDenied);
    const StatsView view = target_.view();
    auto t = find_server(view, args, 2);
    if (!t) return t.error().message;
    auto w = parse_weight(args.size() > 3 ? args[3] : std::string(), *t->proxy, *t->server);
    if (!w) return w.error().message;
    return message(target_.set_weight(t->proxy->name, t->server->name, *w));
  }
  if (is("set server")) {
    if (!admin) return std::string(kDenied);
    const StatsView view = target_.view();
    auto t = find_server(view, args, 2);
    if (!t) return t.error().message;
    const std::string what = args.size() > 3 ? args[3] : std::string();
    const std::string value = args.size() > 4 ? args[4] : std::string();
    if (what == "state") {
      AdminState s;
      if (value == "ready") {
        s = AdminState::kReady;
      } else if (value == "drain") {
        s = AdminState::kDrain;
      } else if (value == "maint") {
        s = AdminState::kMaint;
      } else {
        return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
      }
      return message(target_.set_admin_state(t->proxy->name, t->server->name, s));
    }
    if (what == "weight") {
      auto w = parse_weight(value, *t->proxy, *t->server);
      if (!w) return w.error().message;
      return message(target_.set_weight(t->proxy->name, t->server->name, *w));
    }
    static constexpr std::array<std::string_view, 11> kOthers = {
        "addr",       "agent", "agent-addr", "agent-port", "agent-send", "check-addr",
        "check-port", "fqdn",  "health",     "ssl",        "maxconn"};
    for (auto o : kOthers) {
      if (what == o) {
        return fmt::format("'set server <srv> {}' is not supported by tandem-lb yet.\n", what);
      }
    }
    return "usage: set server <backend>/<server> state | weight\n";
  }
  if (is("set maxconn server")) {
    if (!admin) return std::string(kDenied);
    const StatsView view = target_.view();
    auto t = find_server(view, args, 3);
    if (!t) return t.error().message;
    if (args.size() < 5 || args[4].empty()) return "Require <maxconn>.\n";
    auto m = parse_maxconn(args[4]);
    if (!m) return m.error().message;
    return message(target_.set_maxconn(t->proxy->name, t->server->name, *m));
  }
  if (is("shutdown sessions server")) {
    if (!admin) return std::string(kDenied);
    const StatsView view = target_.view();
    auto t = find_server(view, args, 3);
    if (!t) return t.error().message;
    return message(target_.shutdown_sessions(t->proxy->name, t->server->name));
  }
  return unknown_command(args, level_);
}

}  // namespace tandem::lb::stats
