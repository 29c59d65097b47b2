#include "core/diagnostic.h"

#include <fmt/format.h>

namespace tandem::core {

std::string SourceLocation::to_string() const {
  // Line 0 means the whole file (e.g. it cannot be read): no position to give.
  if (line == 0) return std::string(file_name());
  return fmt::format("{}:{}:{}", file_name(), line, column);
}

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::kNote:
      return "note";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
  }
  return "error";
}

std::string Diagnostic::to_string() const {
  std::string out = fmt::format("{}: {}: {}", where.to_string(), severity_name(severity), message);
  if (!hint.empty()) out += fmt::format("\n  hint: {}", hint);
  return out;
}

void Diagnostics::add(Diagnostic d) {
  if (d.severity == Severity::kError) ++errors_;
  if (d.severity == Severity::kWarning) ++warnings_;
  list_.push_back(std::move(d));
}

void Diagnostics::error(const SourceLocation& where, std::string message, std::string hint) {
  add({Severity::kError, where, std::move(message), std::move(hint)});
}

void Diagnostics::warning(const SourceLocation& where, std::string message, std::string hint) {
  add({Severity::kWarning, where, std::move(message), std::move(hint)});
}

void Diagnostics::note(const SourceLocation& where, std::string message, std::string hint) {
  add({Severity::kNote, where, std::move(message), std::move(hint)});
}

void Diagnostics::append(const Diagnostics& other) {
  for (const auto& d : other.list_) add(d);
}

std::string Diagnostics::to_string() const {
  std::string out;
  for (const auto& d : list_) {
    out += d.to_string();
    out += '\n';
  }
  return out;
}

}  // namespace tandem::core
