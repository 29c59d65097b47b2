// Diagnostics for configuration: each names file:line:col, what is wrong and what to do.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::core {

// Where a word sits in a configuration file; line and column count from 1, columns in bytes.
struct SourceLocation {
  std::shared_ptr<const std::string> file;  // shared: every token of a file points at one name
  uint32_t line = 0;
  uint32_t column = 0;

  std::string_view file_name() const { return file ? std::string_view(*file) : "<input>"; }
  std::string to_string() const;  // "file:line:col"
};

enum class Severity { kNote, kWarning, kError };

struct Diagnostic {
  Severity severity = Severity::kError;
  SourceLocation where;
  std::string message;  // what is wrong
  std::string hint;     // what to do about it; may be empty

  // "file:line:col: error: message" and, when there is a hint, "\n  hint: ..."
  std::string to_string() const;
};

// Collects every diagnostic of a load so all can be reported at once.
class Diagnostics {
 public:
  void error(const SourceLocation& where, std::string message, std::string hint = {});
  void warning(const SourceLocation& where, std::string message, std::string hint = {});
  void note(const SourceLocation& where, std::string message, std::string hint = {});
  void add(Diagnostic d);
  void append(const Diagnostics& other);

  bool has_errors() const { return errors_ > 0; }
  size_t error_count() const { return errors_; }
  size_t warning_count() const { return warnings_; }
  const std::vector<Diagnostic>& all() const { return list_; }
  bool empty() const { return list_.empty(); }

  // Every diagnostic, one per line (hints on their own indented line).
  std::string to_string() const;

 private:
  std::vector<Diagnostic> list_;
  size_t errors_ = 0;
  size_t warnings_ = 0;
};

std::string_view severity_name(Severity s);

}  // namespace tandem::core
