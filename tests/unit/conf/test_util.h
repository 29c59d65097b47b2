// Helpers for the conf unit tests: temporary folders and compact views of diagnostics.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/diagnostic.h"

namespace tandem::conf::testing {

// A fresh folder under the system temp folder, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tandem-conf-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text) const {
    std::filesystem::path p = std::filesystem::path(path_) / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::string path_;
};

// "line:col: message" for each diagnostic: short enough to compare whole lists in tests.
inline std::vector<std::string> brief(const core::Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& x : d.all()) {
    out.push_back(std::to_string(x.where.line) + ":" + std::to_string(x.where.column) + ": " +
                  std::string(core::severity_name(x.severity)) + ": " + x.message);
  }
  return out;
}

}  // namespace tandem::conf::testing
