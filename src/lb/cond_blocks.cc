#include "lb/cond_blocks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

namespace tandem::lb {
namespace {

constexpr size_t kMaxNesting = 10;  // haproxy's MAXNESTEDCONDS

// A version as haproxy's -v prints it: "2.6", "2.4.1", "2.4-dev19", "2.5-rc2".
struct Version {
  std::array<uint64_t, 4> parts{};
  int stage = 3;  // dev 0, pre 1, rc 2, release 3: a dev version comes before its release
  uint64_t stage_number = 0;
  auto operator<=>(const Version&) const = default;
};

std::optional<uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::optional<Version> parse_version(std::string_view s) {
  Version v;
  size_t dash = s.find('-');
  std::string_view nums = s.substr(0, dash);
  size_t i = 0;
  while (true) {
    size_t dot = nums.find('.');
    if (i >= v.parts.size()) return std::nullopt;
    auto n = number(nums.substr(0, dot));
    if (!n) return std::nullopt;
    v.parts[i++] = *n;
    if (dot == std::string_view::npos) break;
    nums.remove_prefix(dot + 1);
  }
  if (dash == std::string_view::npos) return v;
  std::string_view tail = s.substr(dash + 1);
  for (auto [name, stage] : {std::pair<std::string_view, int>{"dev", 0}, {"pre", 1}, {"rc", 2}}) {
    if (tail.substr(0, name.size()) == name) {
      auto n = tail.size() == name.size() ? std::optional<uint64_t>(0)
                                          : number(tail.substr(name.size()));
      if (!n) return std::nullopt;
      v.stage = stage;
      v.stage_number = *n;
      return v;
    }
  }
  return std::nullopt;
}

// Recursive descent over the joined condition text, as haproxy's cfgcond.c.
class CondParser {
 public:
  CondParser(std::string_view text, const conf::EnvLookup& env) : s_(text), env_(env) {}

  core::Result<bool> run() {
    skip_blanks();
    if (pos_ == s_.size()) return false;  // empty: false
    bool v = expr(0);
    skip_blanks();
    if (error_.empty() && pos_ < s_.size()) {
      fail(fmt::format("unexpected character '{}' at the end of the condition", s_[pos_]));
    }
    if (!error_.empty()) return core::fail(error_);
    return v;
  }

 private:
  void skip_blanks() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  void fail(std::string message) {
    if (error_.empty()) {
      error_ = fmt::format("{} (at offset {} of \"{}\")", message, pos_, s_);
    }
  }
  bool ok() const { return error_.empty(); }

  // a || b: the OR of AND terms; everything is parsed even when the result is known.
  bool expr(int depth) {
    if (depth > 32) {
      fail("condition nested too deeply");
      return false;
    }
    bool v = and_expr(depth);
    while (ok()) {
      skip_blanks();
      if (s_.substr(pos_, 2) != "||") break;
      pos_ += 2;
      bool r = and_expr(depth);
      v = v || r;
    }
    return v;
  }
  bool and_expr(int depth) {
    bool v = term(depth);
    while (ok()) {
      skip_blanks();
      if (s_.substr(pos_, 2) != "&&") break;
      pos_ += 2;
      bool r = term(depth);
      v = v && r;
    }
    return v;
  }
  bool term(int depth) {
    skip_blanks();
    if (pos_ >= s_.size()) {
      fail("missing term");
      return false;
    }
    char c = s_[pos_];
    if (c == '!') {
      ++pos_;
      return !term(depth + 1);
    }
    if (c == '(') {
      ++pos_;
      bool v = expr(depth + 1);
      skip_blanks();
      if (ok() && (pos_ >= s_.size() || s_[pos_] != ')')) {
        fail("missing closing ')'");
        return false;
      }
      ++pos_;
      return v;
    }
    if (c >= '0' && c <= '9') {
      size_t start = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return s_.substr(start, pos_ - start).find_first_not_of('0') != std::string_view::npos;
    }
    return predicate();
  }

  // NAME(ARG[,ARG]): arguments run to ',' or ')'; quotes group, a backslash escapes.
  bool predicate() {
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
      ++pos_;
    }
    std::string name(s_.substr(start, pos_ - start));
    static const std::array<std::pair<std::string_view, size_t>, 6> kPredicates = {{
        {"defined", 1},
        {"feature", 1},
        {"streq", 2},
        {"strneq", 2},
        {"version_atleast", 1},
        {"version_before", 1},
    }};
    auto it = std::find_if(kPredicates.begin(), kPredicates.end(),
                           [&](const auto& p) { return p.first == name; });
    if (it == kPredicates.end()) {
      pos_ = start;
      fail(name.empty() ? "expected a predicate, a number, '!' or '('"
                        : fmt::format("unknown conditional predicate '{}'", name));
      return false;
    }
    if (pos_ >= s_.size() || s_[pos_] != '(') {
      fail(fmt::format("missing opening parenthesis after '{}'", name));
      return false;
    }
    ++pos_;
    std::vector<std::string> args;
    std::string cur;
    char quote = 0;
    bool closed = false;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (quote != 0) {
        if (c == quote) {
          quote = 0;
        } else if (c == '\\' && quote == '"' && pos_ < s_.size()) {
          cur += s_[pos_++];
        } else {
          cur += c;
        }
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '\\' && pos_ < s_.size()) {
        cur += s_[pos_++];
      } else if (c == ',') {
        args.push_back(std::move(cur));
        cur.clear();
      } else if (c == ')') {
        args.push_back(std::move(cur));
        closed = true;
        break;
      } else {
        cur += c;
      }
    }
    if (!closed) {
      fail(fmt::format("missing closing ')' after the arguments of '{}'", name));
      return false;
    }
    if (args.size() != it->second) {
      fail(fmt::format("'{}' takes {} argument{}, got {}", name, it->second,
                       it->second == 1 ? "" : "s", args.size()));
      return false;
    }
    if (name == "defined") {
      if (env_) return env_(args[0]).has_value();
      return std::getenv(args[0].c_str()) != nullptr;
    }
    if (name == "feature") {
      const auto& f = reported_features();
      return std::find(f.begin(), f.end(), args[0]) != f.end();
    }
    if (name == "streq") return args[0] == args[1];
    if (name == "strneq") return args[0] != args[1];
    auto want = parse_version(args[0]);
    if (!want) {
      fail(fmt::format("invalid version '{}' in '{}'", args[0], name));
      return false;
    }
    const Version ours = *parse_version(kHaproxyCompatVersion);
    return name == "version_atleast" ? ours >= *want : ours < *want;
  }

  std::string_view s_;
  const conf::EnvLookup& env_;
  size_t pos_ = 0;
  std::string error_;
};

std::string joined(const conf::Line& line, size_t from) {
  std::string out;
  for (size_t i = from; i < line.words.size(); ++i) {
    if (i > from) out += ' ';
    out += line.words[i].text;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& reported_features() {
  // EPOLL: the event loop; GETADDRINFO: server names resolve at start-up; PROMEX: the
  // Prometheus exporter service; THREAD: nbthread. No OPENSSL: tandem-lb does not terminate TLS.
  static const std::vector<std::string> kFeatures = {"EPOLL", "GETADDRINFO", "PROMEX", "THREAD"};
  return kFeatures;
}

core::Result<bool> eval_condition(std::string_view expr, const conf::EnvLookup& env) {
  return CondParser(expr, env).run();
}

bool CondBlocks::active() const {
  return levels_.empty() || levels_.back().active;
}

bool CondBlocks::feed(const conf::Line& line, core::Diagnostics& diags) {
  const conf::Word& first = line.words.front();
  if (first.quoted || first.text.empty() || first.text[0] != '.') return active();
  const std::string& d = first.text;
  auto condition = [&]() -> bool {
    auto r = eval_condition(joined(line, 1), env_);
    if (!r) {
      diags.error(line.words.size() > 1 ? line.words[1].where : first.where,
                  fmt::format("invalid condition: {}", r.error().message),
                  "predicates: defined(VAR), feature(NAME), streq(A,B), strneq(A,B), "
                  "version_atleast(V), version_before(V); combine with !, &&, ||, ( )");
      return false;
    }
    return *r;
  };
  if (d == ".if") {
    if (levels_.size() >= kMaxNesting) {
      diags.error(first.where, fmt::format("too many nested '.if', max is {}", kMaxNesting));
    }
    Level l;
    l.where = first.where;
    l.parent_active = active();
    l.active = l.parent_active && condition();
    l.taken = l.active;
    levels_.push_back(l);
    return false;
  }
  if (d == ".elif" || d == ".else" || d == ".endif") {
    if (levels_.empty()) {
      diags.error(first.where, fmt::format("'{}' without a matching '.if'", d),
                  "every block starts with '.if <condition>'");
      return false;
    }
    Level& l = levels_.back();
    if (d == ".endif") {
      if (line.words.size() > 1) {
        diags.error(line.words[1].where, "'.endif' takes no argument");
      }
      levels_.pop_back();
      return false;
    }
    if (l.saw_else) {
      diags.error(first.where, fmt::format("'{}' after '.else'", d),
                  fmt::format("the '.else' of the '.if' at {} must be its last branch",
                              l.where.to_string()));
      l.active = false;
      return false;
    }
    if (d == ".else") {
      if (line.words.size() > 1) {
        diags.error(line.words[1].where, "'.else' takes no argument",
                    "write '.elif <condition>' for another condition");
      }
      l.saw_else = true;
      l.active = l.parent_active && !l.taken;
    } else {
      // A later branch is only evaluated when no earlier one was taken, as haproxy.
      l.active = l.parent_active && !l.taken && condition();
    }
    l.taken = l.taken || l.active;
    return false;
  }
  if (d == ".notice" || d == ".warning" || d == ".alert" || d == ".diag") {
    if (!active()) return false;
    std::string message = joined(line, 1);
    if (d == ".alert") {
      diags.error(first.where, message);
    } else if (d == ".warning") {
      diags.warning(first.where, message);
    } else {
      diags.note(first.where, message);
    }
    return false;
  }
  if (!active()) return false;
  diags.error(first.where, fmt::format("unknown directive '{}'", d),
              "directives are .if, .elif, .else, .endif, .notice, .warning, .alert, .diag");
  return false;
}

void CondBlocks::finish(core::Diagnostics& diags) {
  for (const Level& l : levels_) {
    diags.error(l.where, "'.if' is never closed", "add '.endif' before the end of the file");
  }
  levels_.clear();
}

std::vector<conf::Line> filter_cond_blocks(const std::vector<conf::Line>& lines,
                                           core::Diagnostics& diags, const conf::EnvLookup& env) {
  std::vector<conf::Line> out;
  CondBlocks blocks(env);
  const std::string* file = nullptr;
  bool first = true;
  for (const conf::Line& line : lines) {
    // Blocks do not cross files, as haproxy reads each file on its own.
    const std::string* f = line.where.file.get();
    if (!first && f != file) blocks.finish(diags);
    first = false;
    file = f;
    if (blocks.feed(line, diags)) out.push_back(line);
  }
  blocks.finish(diags);
  return out;
}

}  // namespace tandem::lb
