#include "conf/keepalived_lexer.h"

#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "conf/source_text.h"

namespace tandem::conf {
namespace {

struct Token {
  enum Kind { kWord, kOpen, kClose, kEnd } kind = kWord;
  Word word;  // text for kWord; `where` for every kind
};

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

// Deeper nesting is surely a mistake, and a bound keeps recursive walks of the tree safe.
constexpr size_t kMaxBlockDepth = 32;

constexpr std::array<std::string_view, 7> kIncludeKeywords = {
    "include", "includet", "includer", "includem", "includew", "includeb", "includea"};

const char* kPerNodeHint =
    "tandem reads one plain file per node: write the values for this node, or put per-node "
    "statements in a file that each node includes";

std::string dir_of(const std::string& path) {
  std::filesystem::path p(path);
  std::string d = p.parent_path().string();
  return d.empty() ? std::string(".") : d;
}

std::optional<std::string> real_path(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

// Reads files into one token stream (includes spliced in place), then builds the tree, so a
// block may open in one file and close in an included one, as keepalived allows.
class Reader {
 public:
  Reader(core::Diagnostics& diags, const IncludeOptions& opts) : diags_(diags), opts_(opts) {}

  void read_file(const std::string& path, size_t depth, const core::SourceLocation* from) {
    auto name = std::make_shared<const std::string>(path);
    core::SourceLocation here = from ? *from : core::SourceLocation{name, 0, 0};
    if (depth > opts_.max_depth) {
      diags_.error(here, fmt::format("includes are nested more than {} deep", opts_.max_depth),
                   "is an included file including itself through a pattern?");
      return;
    }
    if (files_read_ >= opts_.max_files) {
      if (files_read_ == opts_.max_files) {
        diags_.error(here, fmt::format("more than {} configuration files", opts_.max_files),
                     "narrow the include patterns");
      }
      ++files_read_;
      return;
    }
    auto real = real_path(path);
    if (!real) {
      diags_.error(here, fmt::format("cannot open '{}': {}", path, std::strerror(errno)),
                   from ? "check the include pattern and the file's permissions"
                        : "check the path given with -f and its permissions");
      return;
    }
    if (std::find(stack_.begin(), stack_.end(), *real) != stack_.end()) {
      std::string chain;
      for (const auto& n : names_) chain += n + " -> ";
      chain += path;
      diags_.error(here, fmt::format("include loop: {}", chain),
                   "remove the include that leads back to a file already being read");
      return;
    }
    auto text = read_text_file(path);
    if (!text) {
      diags_.error(here, text.error().to_string(),
                   from ? "check the include pattern and the file's permissions"
                        : "check the path given with -f and its permissions");
      return;
    }
    ++files_read_;
    stack_.push_back(*real);
    names_.push_back(path);
    read_text(*text, name, dir_of(*real), depth);
    stack_.pop_back();
    names_.pop_back();
  }

  // Reads text that is not (or not only) a file on disk.
  void read_top_text(std::string_view text, const std::shared_ptr<const std::string>& file,
                     const std::string& dir) {
    if (file) {
      if (auto real = real_path(*file)) {
        stack_.push_back(*real);
        names_.push_back(*file);
      }
    }
    ++files_read_;
    read_text(text, file, dir, 0);
  }

  std::vector<Node> build();

 private:
  void read_text(std::string_view text, const std::shared_ptr<const std::string>& file,
                 const std::string& dir, size_t depth) {
    bool continuation = false;  // inside a multi-line "$NAME=" definition we do not support
    for_each_line(text, file, diags_, [&](const PhysicalLine& pl) {
      std::string_view raw = pl.text;
      while (!raw.empty() && is_blank(raw.back())) raw.remove_suffix(1);
      bool ends_with_backslash = !raw.empty() && raw.back() == '\\';
      if (continuation) {
        continuation = ends_with_backslash;
        return;
      }
      // Include patterns may hold csh-style braces ("{a,b}.conf"), so on an include line
      // braces are part of the words, as keepalived reads include lines before anything else.
      std::vector<Token> line = tokenize(pl, file, dir, !is_include_line(pl.text));
      if (line.empty()) return;
      if (line.front().kind == Token::kWord && !line.front().word.quoted) {
        const Word& first = line.front().word;
        if (first.text.starts_with('@')) {
          diags_.error(first.where,
                       fmt::format("conditional configuration ('{}') is not supported", first.text),
                       kPerNodeHint);
          line.erase(line.begin());  // keep the rest so that its braces still pair up
        } else if (is_definition(first.text)) {
          diags_.error(first.where, "parameter definitions ($NAME=VALUE) are not supported",
                       kPerNodeHint);
          continuation = ends_with_backslash;
          return;
        } else if (first.text.starts_with("~SEQ")) {
          diags_.error(first.where, "'~SEQ' line repetition is not supported",
                       "write the repeated statements out");
          return;
        } else if (std::find(kIncludeKeywords.begin(), kIncludeKeywords.end(), first.text) !=
                   kIncludeKeywords.end()) {
          include(line, dir, depth);
          return;
        }
      }
      if (line.empty()) return;
      core::SourceLocation end = location(file, pl.number, pl.text.size());
      tokens_.insert(tokens_.end(), std::make_move_iterator(line.begin()),
                     std::make_move_iterator(line.end()));
      tokens_.push_back(Token{Token::kEnd, Word{{}, end, false}});
    });
  }

  static bool is_include_line(std::string_view s) {
    size_t b = 0;
    while (b < s.size() && is_blank(s[b])) ++b;
    size_t e = b;
    while (e < s.size() && !is_blank(s[e])) ++e;
    return std::find(kIncludeKeywords.begin(), kIncludeKeywords.end(), s.substr(b, e - b)) !=
           kIncludeKeywords.end();
  }

  static bool is_definition(std::string_view w) {
    if (w.size() < 3 || w[0] != '$' || !is_name_start(w[1])) return false;
    size_t i = 2;
    while (i < w.size() && is_name_char(w[i])) ++i;
    return i < w.size() && w[i] == '=';
  }

  void include(const std::vector<Token>& line, const std::string& dir, size_t depth) {
    const Word& kw = line.front().word;
    if (line.size() != 2 || line[1].kind != Token::kWord) {
      diags_.error(kw.where, fmt::format("'{}' takes exactly one file name or pattern", kw.text),
                   fmt::format("write '{} PATTERN' alone on its line", kw.text));
      return;
    }
    if (!opts_.follow) {
      diags_.error(kw.where, "include is not allowed here",
                   "this configuration is read without access to other files");
      return;
    }
    const Word& arg = line[1].word;
    std::string pattern = arg.text;
    if (pattern.empty()) {
      diags_.error(arg.where, "empty include pattern", "name a file or a glob pattern");
      return;
    }
    if (pattern[0] != '/') pattern = dir + "/" + pattern;
    const bool strict = kw.text != "include";
    glob_t g{};
    int rc = ::glob(pattern.c_str(), GLOB_BRACE | GLOB_MARK, nullptr, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
      std::string msg = fmt::format("no file matches include pattern '{}'", arg.text);
      const char* hint =
          "check the pattern; relative patterns start from the including file's "
          "folder";
      if (strict) {
        diags_.error(arg.where, msg, hint);
      } else {
        diags_.warning(arg.where, msg, hint);
      }
    } else if (rc != 0) {
      diags_.error(arg.where, fmt::format("cannot expand include pattern '{}'", arg.text),
                   "check the folders in the pattern and their permissions");
    } else {
      for (size_t k = 0; k < g.gl_pathc; ++k) {
        std::string match = g.gl_pathv[k];
        if (!match.empty() && match.back() == '/') continue;  // GLOB_MARK: a folder
        read_file(match, depth + 1, &arg.where);
      }
    }
    ::globfree(&g);
  }

  std::string instance() const {
    if (opts_.instance) return *opts_.instance;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) return {};
    return host;
  }

  // Keepalived's predefined parameters; other "$..." text stays as written, as keepalived
  // leaves undefined parameters alone.
  bool substitute(std::string_view s, size_t& i, std::string& out, const std::string& dir,
                  const std::shared_ptr<const std::string>& file, uint32_t number) {
    std::string_view rest = s.substr(i);
    auto try_name = [&](std::string_view name, const std::string& value) {
      std::string braced = fmt::format("${{{}}}", name);
      if (rest.starts_with(braced)) {
        out += value;
        i += braced.size();
        return true;
      }
      std::string bare = fmt::format("${}", name);
      if (rest.starts_with(bare) && (rest.size() == bare.size() || is_blank(rest[bare.size()]))) {
        out += value;
        i += bare.size();
        return true;
      }
      return false;
    };
    if (try_name("_PWD", dir) || try_name("_HASH", "#")) return true;
    if (rest.starts_with("${_INSTANCE}") || rest.starts_with("$_INSTANCE")) {
      return try_name("_INSTANCE", instance());
    }
    if (rest.starts_with("${_RANDOM") || rest.starts_with("$_RANDOM")) {
      diags_.error(location(file, number, i), "${_RANDOM} is not supported",
                   "write the number out");
      out += '$';
      ++i;
      return true;
    }
    return false;
  }

  std::vector<Token> tokenize(const PhysicalLine& pl,
                              const std::shared_ptr<const std::string>& file,
                              const std::string& dir, bool brace_tokens) {
    std::vector<Token> out;
    std::string_view s = pl.text;
    std::string cur;
    bool started = false;
    bool quoted = false;
    size_t col = 0;
    auto end_word = [&] {
      if (started) {
        out.push_back(
            Token{Token::kWord, Word{std::move(cur), location(file, pl.number, col), quoted}});
      }
      cur.clear();
      started = false;
      quoted = false;
    };
    size_t i = 0;
    while (i < s.size()) {
      char c = s[i];
      if (is_blank(c)) {
        end_word();
        ++i;
        continue;
      }
      if (c == '#' || c == '!') break;  // a comment, even in the middle of a word
      if (c == '$' && i + 1 < s.size() && s[i + 1] == '{') {
        // "${NAME}" that is not predefined stays as written (keepalived leaves undefined
        // parameters alone); its braces do not open a block.
        if (!started) {
          started = true;
          col = i;
        }
        if (substitute(s, i, cur, dir, file, pl.number)) continue;
        size_t close = i + 2;
        while (close < s.size() && is_name_char(s[close])) ++close;
        if (close < s.size() && s[close] == '}') {
          cur.append(s.substr(i, close + 1 - i));
          i = close + 1;
          continue;
        }
      }
      if (brace_tokens && (c == '{' || c == '}')) {
        end_word();  // braces are tokens of their own, even glued to a word
        out.push_back(Token{c == '{' ? Token::kOpen : Token::kClose,
                            Word{std::string(1, c), location(file, pl.number, i), false}});
        ++i;
        continue;
      }
      if (!started) {
        started = true;
        col = i;
      }
      if (c == '"') {
        quoted = true;
        size_t open = i++;
        bool closed = false;
        while (i < s.size()) {
          char q = s[i];
          if (q == '"') {
            closed = true;
            ++i;
            break;
          }
          if (q == '\\' && i + 1 < s.size()) {
            i = unescape(s, i, cur);
          } else if (q == '$' && substitute(s, i, cur, dir, file, pl.number)) {
            // substituted
          } else {
            cur += q;
            ++i;
          }
        }
        if (!closed) {
          diags_.error(location(file, pl.number, open), "unterminated double quote",
                       "close the quote on the same line; a string cannot span lines");
          started = false;  // drop the broken word, keep what came before it
          cur.clear();
          return out;
        }
        continue;
      }
      if (c == '$' && substitute(s, i, cur, dir, file, pl.number)) continue;
      cur += c;  // outside quotes a backslash is an ordinary character
      ++i;
    }
    end_word();
    return out;
  }

  // Escapes inside double quotes, as keepalived.conf(5) lists them. s[i] is the backslash.
  static size_t unescape(std::string_view s, size_t i, std::string& out) {
    char e = s[i + 1];
    i += 2;
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    switch (e) {
      case 'a':
        out += '\a';
        return i;
      case 'b':
        out += '\b';
        return i;
      case 'E':
        out += '\x1b';
        return i;
      case 'f':
        out += '\f';
        return i;
      case 'n':
        out += '\n';
        return i;
      case 'r':
        out += '\r';
        return i;
      case 't':
        out += '\t';
        return i;
      case 'v':
        out += '\v';
        return i;
      case 'x': {
        unsigned v = 0;
        size_t digits = 0;
        while (i < s.size() && digits < 2 && hex(s[i]) >= 0) {
          v = v * 16 + static_cast<unsigned>(hex(s[i++]));
          ++digits;
        }
        if (digits == 0) {
          out += 'x';
        } else {
          out += static_cast<char>(v);
        }
        return i;
      }
      case 'c':
        if (i < s.size()) {
          out += static_cast<char>(s[i++] & 0x1f);
        } else {
          out += 'c';
        }
        return i;
      default:
        if (e >= '0' && e <= '7') {
          unsigned v = static_cast<unsigned>(e - '0');
          for (int k = 0; k < 2 && i < s.size() && s[i] >= '0' && s[i] <= '7'; ++k) {
            v = v * 8 + static_cast<unsigned>(s[i++] - '0');
          }
          out += static_cast<char>(v & 0xff);
          return i;
        }
        out += e;  // \C is C: \\ and \" among others
        return i;
    }
  }

  core::Diagnostics& diags_;
  const IncludeOptions& opts_;
  std::vector<Token> tokens_;
  std::vector<std::string> stack_;  // real paths of the files being read, outermost first
  std::vector<std::string> names_;  // the same files as they were named
  size_t files_read_ = 0;
};

std::vector<Node> Reader::build() {
  std::vector<Node> root;
  // The chain of open blocks. Each list belongs to the last node of the list before it, and
  // only the innermost list grows, so these pointers stay valid while they are on the stack.
  std::vector<std::vector<Node>*> stack{&root};
  std::optional<Node> pending;
  bool line_start = true;     // no token yet on this line
  bool last_open_ok = false;  // a '{' first on a line may still open the last statement's block
  size_t skipping = 0;        // inside a block we ignore (stray or too deep): its brace depth

  auto flush = [&] {
    if (!pending) return false;
    stack.back()->push_back(std::move(*pending));
    pending.reset();
    return true;
  };

  for (Token& t : tokens_) {
    if (skipping > 0) {
      if (t.kind == Token::kOpen) ++skipping;
      if (t.kind == Token::kClose) --skipping;
      line_start = t.kind == Token::kEnd;
      last_open_ok = false;
      continue;
    }
    switch (t.kind) {
      case Token::kWord:
        if (!pending) {
          pending.emplace();
          pending->where = t.word.where;
          pending->keyword = std::move(t.word);
        } else {
          pending->args.push_back(std::move(t.word));
        }
        line_start = false;
        break;
      case Token::kEnd:
        last_open_ok = flush() || (line_start && last_open_ok);
        line_start = true;
        break;
      case Token::kOpen: {
        Node* owner = nullptr;
        if (pending) {
          flush();
          owner = &stack.back()->back();
        } else if (line_start && last_open_ok && !stack.back()->empty()) {
          owner = &stack.back()->back();  // '{' alone on a line: the statement above
        }
        if (owner == nullptr || owner->has_block) {
          diags_.error(t.word.where, "'{' does not follow a statement",
                       "a block opens after its keyword, e.g. 'vrrp_instance VI_1 {'");
          skipping = 1;
        } else if (stack.size() > kMaxBlockDepth) {
          diags_.error(t.word.where,
                       fmt::format("blocks are nested more than {} deep", kMaxBlockDepth),
                       "look for a missing '}'");
          skipping = 1;
        } else {
          owner->has_block = true;
          owner->block_where = t.word.where;
          stack.push_back(&owner->children);
        }
        last_open_ok = false;
        line_start = false;
        break;
      }
      case Token::kClose:
        flush();
        if (stack.size() == 1) {
          diags_.error(t.word.where, "unexpected '}': no block is open here",
                       "remove it, or look for a missing '{' above");
        } else {
          stack.pop_back();
        }
        last_open_ok = false;
        line_start = false;
        break;
    }
  }
  flush();
  // Report unclosed blocks innermost first; each open list's owner is its parent's last node.
  for (size_t k = stack.size(); k-- > 1;) {
    const Node& owner = stack[k - 1]->back();
    diags_.error(owner.block_where,
                 fmt::format("block of '{}' opened here is never closed", owner.keyword.text),
                 "add the missing '}'");
  }
  return root;
}

}  // namespace

std::vector<Node> parse_keepalived(std::string_view text, std::shared_ptr<const std::string> file,
                                   core::Diagnostics& diags, const IncludeOptions& opts) {
  Reader reader(diags, opts);
  std::string dir = opts.base_dir;
  if (dir.empty()) dir = file ? dir_of(*file) : std::string(".");
  reader.read_top_text(text, file, dir);
  return reader.build();
}

std::vector<Node> load_keepalived(const std::string& path, core::Diagnostics& diags,
                                  const IncludeOptions& opts) {
  Reader reader(diags, opts);
  reader.read_file(path, 0, nullptr);
  return reader.build();
}

}  // namespace tandem::conf
