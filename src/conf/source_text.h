// Reading configuration files and cutting their text into physical lines, shared by both lexers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/diagnostic.h"
#include "core/result.h"

namespace tandem::conf {

// Bounds for any configuration input: a longer line or a bigger file is an error, not a stall.
inline constexpr size_t kMaxLineBytes = 64 * 1024;
inline constexpr size_t kMaxFileBytes = 16 * 1024 * 1024;

// The whole file, or an error naming it (missing, unreadable, a directory, too big).
core::Result<std::string> read_text_file(const std::string& path);

// One physical line: its text without the line end (and without the CR of a CRLF).
struct PhysicalLine {
  std::string_view text;
  uint32_t number = 0;  // from 1
};

// Calls `each` for every line of `text` that is fit to tokenize. Lines that are too long or
// hold a NUL or another control character (binary garbage) get one error each and are skipped.
void for_each_line(std::string_view text, const std::shared_ptr<const std::string>& file,
                   core::Diagnostics& diags, const std::function<void(const PhysicalLine&)>& each);

inline core::SourceLocation location(const std::shared_ptr<const std::string>& file, uint32_t line,
                                     size_t column0) {
  return core::SourceLocation{file, line, static_cast<uint32_t>(column0 + 1)};
}

}  // namespace tandem::conf
