#include "conf/keyword_table.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace tandem::conf {
namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

// Optimal string alignment distance (Levenshtein plus adjacent swaps), ignoring case.
size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string usage(const KeywordTableBase::Info& info) {
  std::string u = info.name;
  if (!info.args_doc.empty()) u += " " + info.args_doc;
  if (info.block == BlockRule::kRequired) u += " { ... }";
  if (info.block == BlockRule::kOptional) u += " [{ ... }]";
  return "usage: " + u;
}

std::string count_words(size_t n) {
  return fmt::format("{} argument{}", n, n == 1 ? "" : "s");
}

}  // namespace

void KeywordTableBase::add_info(Info info) {
  if (find(info.name) != nullptr) {
    throw std::logic_error("keyword '" + info.name + "' is listed twice in " + context_);
  }
  infos_.push_back(std::move(info));
}

void KeywordTableBase::add_unsupported(std::string name, std::string reason) {
  unsupported_.push_back({std::move(name), std::move(reason)});
}

const KeywordTableBase::Info* KeywordTableBase::find(std::string_view name) const {
  for (const Info& i : infos_) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

std::optional<std::string> KeywordTableBase::suggest(std::string_view unknown) const {
  const size_t limit = unknown.size() <= 4 ? 1 : 2;
  std::optional<std::string> best;
  size_t best_distance = limit + 1;
  auto consider = [&](const std::string& name) {
    size_t d = edit_distance(unknown, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  };
  for (const Info& i : infos_) consider(i.name);
  for (const Unsupported& u : unsupported_) consider(u.name);
  return best;
}

std::optional<size_t> KeywordTableBase::check(const Statement& st, core::Diagnostics& diags,
                                              DispatchResult& result) const {
  const Word& kw = *st.keyword;
  const Info* info = find(kw.text);
  if (info == nullptr) {
    for (const Unsupported& u : unsupported_) {
      if (u.name == kw.text) {
        diags.error(kw.where, fmt::format("'{}' is not supported by {}", kw.text, program_),
                    u.reason);
        result = DispatchResult::kUnsupported;
        return std::nullopt;
      }
    }
    std::string hint;
    if (auto s = suggest(kw.text)) hint = fmt::format("did you mean '{}'?", *s);
    diags.error(kw.where, fmt::format("unknown keyword '{}' in {}", kw.text, context_),
                std::move(hint));
    result = DispatchResult::kUnknown;
    return std::nullopt;
  }
  const size_t n = st.args.size();
  if (n < info->min_args || n > info->max_args) {
    std::string expected;
    if (info->min_args == info->max_args) {
      expected = fmt::format("takes {}", count_words(info->min_args));
    } else if (n < info->min_args) {
      expected = fmt::format("needs at least {}", count_words(info->min_args));
    } else {
      expected = fmt::format("takes at most {}", count_words(info->max_args));
    }
    std::string message = fmt::format("'{}' {}, got {}", kw.text, expected, n);
    if (n > info->max_args)
      message += fmt::format(" (unexpected '{}')", st.args[info->max_args].text);
    diags.error(kw.where, std::move(message), usage(*info));
    result = DispatchResult::kWrongArgCount;
    return std::nullopt;
  }
  if (info->block == BlockRule::kRequired && !st.has_block()) {
    diags.error(kw.where, fmt::format("'{}' needs a block: '{{ ... }}'", kw.text), usage(*info));
    result = DispatchResult::kWrongBlock;
    return std::nullopt;
  }
  if (info->block == BlockRule::kNone && st.has_block()) {
    diags.error(st.node->block_where, fmt::format("'{}' takes no block", kw.text), usage(*info));
    result = DispatchResult::kWrongBlock;
    return std::nullopt;
  }
  result = DispatchResult::kHandled;
  return static_cast<size_t>(info - infos_.data());
}

std::string KeywordTableBase::markdown(int heading_level) const {
  std::string out;
  std::vector<const KeywordTableBase*> seen;
  render(out, heading_level, seen);
  return out;
}

void KeywordTableBase::render(std::string& out, int level,
                              std::vector<const KeywordTableBase*>& seen) const {
  if (std::find(seen.begin(), seen.end(), this) != seen.end()) return;
  seen.push_back(this);
  out +=
      fmt::format("{} {}\n\n", std::string(static_cast<size_t>(std::max(level, 1)), '#'), context_);
  out += "| keyword | arguments | description |\n|---|---|---|\n";
  for (const Info& i : infos_) {
    std::string args = i.args_doc;
    if (i.block == BlockRule::kRequired) args += args.empty() ? "{ ... }" : " { ... }";
    if (i.block == BlockRule::kOptional) args += args.empty() ? "[{ ... }]" : " [{ ... }]";
    out += fmt::format("| `{}` | {} | {} |\n", i.name,
                       args.empty() ? std::string() : "`" + cell(args) + "`", cell(i.doc));
  }
  if (!unsupported_.empty()) {
    out += fmt::format("\nNot supported by {}:\n\n| keyword | why |\n|---|---|\n", program_);
    for (const Unsupported& u : unsupported_) {
      out += fmt::format("| `{}` | {} |\n", u.name, cell(u.reason));
    }
  }
  out += "\n";
  for (const Info& i : infos_) {
    if (i.nested != nullptr) i.nested->render(out, level + 1, seen);
  }
}

}  // namespace tandem::conf
