// haproxy's conditional blocks (.if/.elif/.else/.endif and the .notice/.warning/.alert/.diag
// messages) as a filter over tokenized lines, and the condition language they use.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/haproxy_lexer.h"
#include "core/diagnostic.h"
#include "core/result.h"

namespace tandem::lb {

// The haproxy version tandem-lb claims for version_atleast()/version_before(): "2.6", that
// is 2.6.0 (missing components are zero), a release (newer than any 2.6-devN, -preN, -rcN).
inline constexpr std::string_view kHaproxyCompatVersion = "2.6";

// The names feature(NAME) is true for: what tandem-lb really does of haproxy's "-vv" list.
const std::vector<std::string>& reported_features();

// Evaluates a condition as haproxy 2.6 does ("defined(X) && !streq($A,b) || 1"); an empty
// condition is false. The error names what is wrong and where in `expr`.
core::Result<bool> eval_condition(std::string_view expr, const conf::EnvLookup& env = {});

// Feeds lines one by one and says which ones are kept; directives are consumed. At most 10
// levels of .if nest, as haproxy.
class CondBlocks {
 public:
  explicit CondBlocks(conf::EnvLookup env = {}) : env_(std::move(env)) {}

  // True when `line` is an ordinary line inside active blocks (keep it).
  bool feed(const conf::Line& line, core::Diagnostics& diags);
  // After the last line of a file: every .if still open is an error.
  void finish(core::Diagnostics& diags);
  // True while the lines being read are kept (outside any false block).
  bool active() const;

 private:
  struct Level {
    core::SourceLocation where;  // the .if
    bool parent_active = true;
    bool taken = false;  // a branch of this level was (or is) active
    bool active = false;
    bool saw_else = false;
  };
  conf::EnvLookup env_;
  std::vector<Level> levels_;
};

// Runs CondBlocks over every line.
std::vector<conf::Line> filter_cond_blocks(const std::vector<conf::Line>& lines,
                                           core::Diagnostics& diags,
                                           const conf::EnvLookup& env = {});

}  // namespace tandem::lb
