// Tokenizer for haproxy.cfg syntax: lines of words with quotes, escapes and ${VAR} expansion.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/word.h"
#include "core/diagnostic.h"

namespace tandem::conf {

// One logical configuration line: comments removed; empty lines are never produced.
struct Line {
  std::vector<Word> words;
  core::SourceLocation where;  // the first word
};

// Looks up an environment variable; an empty function means getenv(3).
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// Receives each line as soon as it is cut, so that a caller can act on "setenv" before the next
// line is expanded.
using LineSink = std::function<void(Line&&)>;

// Cuts `text` (the contents of `file`) into lines. Never throws: every problem becomes a
// diagnostic and a line with an error is dropped; the rest of the text is still read.
std::vector<Line> lex_haproxy(std::string_view text, std::shared_ptr<const std::string> file,
                              core::Diagnostics& diags, const EnvLookup& env = {});
void lex_haproxy(std::string_view text, std::shared_ptr<const std::string> file,
                 core::Diagnostics& diags, const EnvLookup& env, const LineSink& sink);

// Reads each path in order like `haproxy -f`: a file, or a directory whose non-hidden "*.cfg"
// files are read in byte-wise lexical order. An unreadable path is an error diagnostic.
std::vector<Line> load_haproxy(const std::vector<std::string>& paths, core::Diagnostics& diags,
                               const EnvLookup& env = {});

// The files `load_haproxy` would read for `paths`, in order (directories expanded).
std::vector<std::string> haproxy_config_files(const std::vector<std::string>& paths,
                                              core::Diagnostics& diags);

}  // namespace tandem::conf
