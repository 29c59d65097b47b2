// Parser for keepalived.conf syntax: statements of words, '{ }' blocks, and include files.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/word.h"
#include "core/diagnostic.h"

namespace tandem::conf {

// One statement: the words of one line up to a brace; a '{' gives it a block of children.
struct Node {
  Word keyword;
  std::vector<Word> args;
  std::vector<Node> children;
  bool has_block = false;
  core::SourceLocation where;        // the keyword
  core::SourceLocation block_where;  // the '{' when has_block
};

struct IncludeOptions {
  bool follow = true;      // false: an include statement is an error (fuzzing, text-only checks)
  size_t max_depth = 16;   // include nesting limit
  size_t max_files = 256;  // total files one load may read, so a glob cannot run away
  // Folder that relative include patterns of the top text start from; when empty, the folder
  // of the `file` name given to parse_keepalived (or the working folder if it has none).
  std::string base_dir;
  // ${_INSTANCE}; when unset, the host name (keepalived's default without -i).
  std::optional<std::string> instance;
};

// Parses `text` (the contents of `file`) into a statement tree. Never throws: every problem
// becomes a diagnostic and parsing goes on, so all errors of a load are reported at once.
std::vector<Node> parse_keepalived(std::string_view text, std::shared_ptr<const std::string> file,
                                   core::Diagnostics& diags, const IncludeOptions& opts = {});

// Reads and parses `path`, following `include GLOB` statements.
std::vector<Node> load_keepalived(const std::string& path, core::Diagnostics& diags,
                                  const IncludeOptions& opts = {});

}  // namespace tandem::conf
