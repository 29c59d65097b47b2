// A word of a configuration file: its text after quotes and escapes, and where it was written.
#pragma once

#include <string>

#include "core/diagnostic.h"

namespace tandem::conf {

struct Word {
  std::string text;            // after quote removal, escapes and expansion
  core::SourceLocation where;  // the word's first byte (its opening quote, if quoted)
  bool quoted = false;         // some part of it was written inside quotes

  bool operator==(std::string_view s) const { return text == s; }
};

}  // namespace tandem::conf
