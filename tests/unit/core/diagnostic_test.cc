#include "core/diagnostic.h"

#include <gtest/gtest.h>

namespace tandem::core {
namespace {

TEST(Diagnostic, FormatsFileLineColumnSeverityMessageAndHint) {
  SourceLocation where{std::make_shared<const std::string>("/etc/keepalived/keepalived.conf"), 12,
                       5};
  Diagnostic d{Severity::kError, where, "unknown keyword 'unicst_peer'",
               "did you mean 'unicast_peer'?"};
  EXPECT_EQ(d.to_string(),
            "/etc/keepalived/keepalived.conf:12:5: error: unknown keyword 'unicst_peer'\n"
            "  hint: did you mean 'unicast_peer'?");
}

TEST(Diagnostic, WithoutFileSaysInput) {
  SourceLocation where{nullptr, 1, 1};
  EXPECT_EQ(where.to_string(), "<input>:1:1");
}

TEST(Diagnostics, CountsBySeverityAndKeepsOrder) {
  Diagnostics ds;
  SourceLocation w{std::make_shared<const std::string>("a.cfg"), 1, 1};
  ds.warning(w, "first");
  ds.error(w, "second", "fix it");
  ds.note(w, "third");
  EXPECT_TRUE(ds.has_errors());
  EXPECT_EQ(ds.error_count(), 1u);
  EXPECT_EQ(ds.warning_count(), 1u);
  ASSERT_EQ(ds.all().size(), 3u);
  EXPECT_EQ(ds.to_string(),
            "a.cfg:1:1: warning: first\n"
            "a.cfg:1:1: error: second\n  hint: fix it\n"
            "a.cfg:1:1: note: third\n");
  Diagnostics more;
  more.append(ds);
  EXPECT_EQ(more.error_count(), 1u);
}

}  // namespace
}  // namespace tandem::core
