// A docs page embeds a generated section between "<!-- keywords:begin -->" and
// "<!-- keywords:end -->": the test compares it with what the code generates, or rewrites
// it when TANDEM_REGEN_DOCS is set.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace tandem::testing {

// The project's root, found from this header's path (tests/doc_check.h).
inline std::filesystem::path source_root() {
  return std::filesystem::path(__FILE__).parent_path().parent_path();
}

inline void check_generated_section(const std::filesystem::path& page, const std::string& generated,
                                    const std::string& regen) {
  std::ifstream in(page, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << page;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string begin = "<!-- keywords:begin -->\n";
  const std::string end = "<!-- keywords:end -->";
  size_t b = text.find(begin);
  size_t e = text.find(end);
  ASSERT_NE(b, std::string::npos) << "missing marker " << begin;
  ASSERT_NE(e, std::string::npos) << "missing marker " << end;
  b += begin.size();
  const std::string expected = "\n" + generated;
  if (std::getenv("TANDEM_REGEN_DOCS") != nullptr) {
    text.replace(b, e - b, expected);
    std::ofstream(page, std::ios::binary) << text;
    return;
  }
  EXPECT_EQ(text.substr(b, e - b), expected)
      << page.filename().string()
      << " is out of date with the keyword tables; regenerate it with\n  " << regen;
}

}  // namespace tandem::testing
