#include "conf/haproxy_lexer.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "conf/source_text.h"

namespace tandem::conf {
namespace {

// Keywords that open a section in haproxy 2.6; only used to resolve "${.SECTION}".
constexpr std::array<std::string_view, 17> kSectionKeywords = {
    "global",      "defaults", "frontend",  "backend",   "listen",      "userlist",
    "peers",       "mailers",  "resolvers", "program",   "http-errors", "ring",
    "log-forward", "cache",    "fcgi-app",  "crt-store", "traces"};

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char* kDollarHint = "write \\$ for a literal dollar, or use single quotes";

// Cuts one physical line into words. Holds the state of the word being built.
class LineLexer {
 public:
  LineLexer(const PhysicalLine& line, const std::shared_ptr<const std::string>& file,
            core::Diagnostics& diags, const EnvLookup& env, const std::string& section)
      : s_(line.text),
        number_(line.number),
        file_(file),
        diags_(diags),
        env_(env),
        section_(section) {}

  // False when the line had an error; it must then be dropped.
  bool run() {
    size_t i = 0;
    const size_t n = s_.size();
    while (i < n && ok_) {
      char c = s_[i];
      if (is_blank(c)) {
        end_word();
        ++i;
        continue;
      }
      if (c == '#') break;  // an unprotected hash starts a comment, even inside a word
      if (!started_) next_col_ = i;
      if (c == '\\') {
        i = escape(i);
      } else if (c == '\'') {
        size_t close = s_.find('\'', i + 1);
        if (close == std::string_view::npos) {
          error(i, "unterminated single quote",
                "close the quote on the same line; a word cannot span lines");
          break;
        }
        quoted_ = true;
        start_word();
        cur_.append(s_.substr(i + 1, close - i - 1));
        i = close + 1;
      } else if (c == '"') {
        i = double_quoted(i);
      } else {
        put(c);
        ++i;
      }
    }
    if (ok_) end_word();
    return ok_;
  }

  std::vector<Word> take_words() { return std::move(words_); }

 private:
  void error(size_t col0, std::string message, std::string hint) {
    diags_.error(location(file_, number_, col0), std::move(message), std::move(hint));
    ok_ = false;
  }

  void start_word() {
    if (!started_) {
      started_ = true;
      word_col_ = next_col_;
    }
  }
  void put(char c) {
    start_word();
    cur_ += c;
  }
  void end_word() {
    if (started_) {
      words_.push_back(Word{std::move(cur_), location(file_, number_, word_col_), quoted_});
    }
    cur_.clear();
    started_ = false;
    quoted_ = false;
  }

  // s_[i] is a backslash; returns the index after the escape sequence.
  size_t escape(size_t i) {
    if (i + 1 >= s_.size()) {
      put('\\');  // haproxy keeps a trailing backslash: there are no continuation lines
      return i + 1;
    }
    char e = s_[i + 1];
    switch (e) {
      case ' ':
      case '\t':
      case '#':
      case '\\':
      case '\'':
      case '"':
      case '$':
        put(e);
        return i + 2;
      case 'n':
        put('\n');
        return i + 2;
      case 'r':
        put('\r');
        return i + 2;
      case 't':
        put('\t');
        return i + 2;
      case 'x': {
        int hi = i + 2 < s_.size() ? hex_value(s_[i + 2]) : -1;
        int lo = i + 3 < s_.size() ? hex_value(s_[i + 3]) : -1;
        if (hi < 0 || lo < 0) {
          error(i, "truncated or invalid hexadecimal escape",
                "write \\xNN with exactly two hex digits, e.g. \\x41");
          return s_.size();
        }
        if (hi == 0 && lo == 0) {
          error(i, "\\x00 is not allowed in a word", "a NUL byte cannot be part of a value");
          return s_.size();
        }
        put(static_cast<char>(hi * 16 + lo));
        return i + 4;
      }
      default:
        put('\\');  // an unknown escape keeps its backslash, as haproxy does
        put(e);
        return i + 2;
    }
  }

  // s_[i] is an opening double quote; returns the index after the closing one.
  size_t double_quoted(size_t i) {
    const size_t open = i;
    bool split = false;  // a "${VAR[*]}" expanded here: an empty result makes no word
    quoted_ = true;
    ++i;
    while (i < s_.size() && ok_) {
      char c = s_[i];
      if (c == '"') {
        if (!split) start_word();
        quoted_ = true;
        return i + 1;
      }
      if (c == '\\') {
        i = escape(i);
      } else if (c == '$') {
        i = expand(i, split);
      } else {
        put(c);
        ++i;
      }
      quoted_ = true;
    }
    if (ok_) {
      error(open, "unterminated double quote",
            "close the quote on the same line; a word cannot span lines");
    }
    return s_.size();
  }

  // s_[i] is a dollar inside double quotes; returns the index after the variable reference.
  size_t expand(size_t i, bool& split) {
    const size_t dollar = i;
    std::string name;
    std::optional<std::string> fallback;
    bool words = false;
    if (i + 1 < s_.size() && s_[i + 1] == '{') {
      size_t j = i + 2;
      size_t name_start = j;
      if (j < s_.size() && s_[j] == '.') ++j;  // pseudo-variables: .FILE, .LINE, .SECTION
      if (j >= s_.size() || !(is_name_start(s_[j]))) {
        error(j < s_.size() ? j : dollar, "forbidden first character in environment variable name",
              kDollarHint);
        return s_.size();
      }
      while (j < s_.size() && is_name_char(s_[j])) ++j;
      name.assign(s_.substr(name_start, j - name_start));
      if (j < s_.size() && s_[j] == '[') {
        if (s_.substr(j, 3) != "[*]") {
          error(j, "invalid word expansion: only \"[*]\" may follow a variable name",
                "write \"${NAME[*]}\" to expand a variable into several words");
          return s_.size();
        }
        words = true;
        j += 3;
      }
      if (j < s_.size() && s_[j] == '-') {
        size_t close = s_.find('}', j + 1);
        if (close == std::string_view::npos) {
          error(dollar, "unmatched brace in environment variable reference",
                "close it with '}', e.g. \"${NAME-default}\"");
          return s_.size();
        }
        fallback.emplace(s_.substr(j + 1, close - j - 1));
        j = close;
      }
      if (j >= s_.size() || s_[j] != '}') {
        error(dollar, "unmatched brace in environment variable reference",
              "close it with '}', e.g. \"${NAME}\"");
        return s_.size();
      }
      i = j + 1;
    } else {
      size_t j = i + 1;
      if (j >= s_.size() || !is_name_start(s_[j])) {
        error(dollar, "'$' not followed by an environment variable name", kDollarHint);
        return s_.size();
      }
      while (j < s_.size() && is_name_char(s_[j])) ++j;
      name.assign(s_.substr(i + 1, j - i - 1));
      i = j;
    }

    std::optional<std::string> value = lookup(name, dollar);
    if (!ok_) return s_.size();
    if (!value) {
      if (fallback) {
        value = std::move(fallback);
      } else {
        diags_.warning(
            location(file_, number_, dollar),
            fmt::format("environment variable '{}' is not set; it expands to nothing", name),
            fmt::format("set it, or give a default: \"${{{}-default}}\"", name));
        value.emplace();
      }
    }
    if (!words) {
      start_word();
      cur_ += *value;
      return i;
    }
    split = true;
    for (char c : *value) {
      if (is_blank(c)) {
        end_word();
        next_col_ = dollar;  // words cut from a value point at the variable
        continue;
      }
      put(c);
      quoted_ = true;
    }
    return i;
  }

  std::optional<std::string> lookup(const std::string& name, size_t dollar) {
    if (!name.empty() && name[0] == '.') {
      if (name == ".FILE") return std::string(file_ ? *file_ : std::string("<input>"));
      if (name == ".LINE") return std::to_string(number_);
      if (name == ".SECTION") return section_;
      error(dollar, fmt::format("unknown pseudo-variable '{}'", name),
            "the pseudo-variables are .FILE, .LINE and .SECTION");
      return std::nullopt;
    }
    if (env_) return env_(name);
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  }

  std::string_view s_;
  uint32_t number_;
  const std::shared_ptr<const std::string>& file_;
  core::Diagnostics& diags_;
  const EnvLookup& env_;
  const std::string& section_;

  std::vector<Word> words_;
  std::string cur_;
  bool started_ = false;
  bool quoted_ = false;
  bool ok_ = true;
  size_t word_col_ = 0;
  size_t next_col_ = 0;
};

}  // namespace

void lex_haproxy(std::string_view text, std::shared_ptr<const std::string> file,
                 core::Diagnostics& diags, const EnvLookup& env, const LineSink& sink) {
  std::string section;
  for_each_line(text, file, diags, [&](const PhysicalLine& pl) {
    LineLexer lexer(pl, file, diags, env, section);
    if (!lexer.run()) return;
    std::vector<Word> words = lexer.take_words();
    if (words.empty()) return;
    const Word& first = words.front();
    if (!first.quoted && std::find(kSectionKeywords.begin(), kSectionKeywords.end(), first.text) !=
                             kSectionKeywords.end()) {
      section = words.size() > 1 ? words[1].text : first.text;
    }
    Line line{std::move(words), {}};
    line.where = line.words.front().where;
    sink(std::move(line));
  });
}

std::vector<Line> lex_haproxy(std::string_view text, std::shared_ptr<const std::string> file,
                              core::Diagnostics& diags, const EnvLookup& env) {
  std::vector<Line> lines;
  lex_haproxy(text, std::move(file), diags, env, [&](Line&& l) { lines.push_back(std::move(l)); });
  return lines;
}

std::vector<std::string> haproxy_config_files(const std::vector<std::string>& paths,
                                              core::Diagnostics& diags) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      files.push_back(path);  // reading it reports a missing or unreadable file
      continue;
    }
    std::vector<std::string> found;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      std::error_code ec2;
      if (name.empty() || name[0] == '.' || !it->is_regular_file(ec2)) continue;
      if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".cfg") != 0) continue;
      found.push_back(it->path().string());
    }
    if (ec) {
      diags.error(core::SourceLocation{std::make_shared<const std::string>(path), 0, 0},
                  fmt::format("cannot list directory: {}", ec.message()),
                  "check the path and its permissions");
      continue;
    }
    std::sort(found.begin(), found.end());  // byte order, like LC_COLLATE=C
    if (found.empty()) {
      diags.warning(core::SourceLocation{std::make_shared<const std::string>(path), 0, 0},
                    "directory holds no *.cfg file",
                    "only non-hidden files ending in .cfg are read");
    }
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

std::vector<Line> load_haproxy(const std::vector<std::string>& paths, core::Diagnostics& diags,
                               const EnvLookup& env) {
  std::vector<Line> lines;
  for (const std::string& path : haproxy_config_files(paths, diags)) {
    auto name = std::make_shared<const std::string>(path);
    auto text = read_text_file(path);
    if (!text) {
      diags.error(core::SourceLocation{name, 0, 0}, text.error().to_string(),
                  "check the path given with -f and its permissions");
      continue;
    }
    lex_haproxy(*text, name, diags, env, [&](Line&& l) { lines.push_back(std::move(l)); });
  }
  return lines;
}

}  // namespace tandem::conf
