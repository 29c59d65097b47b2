#include "core/log.h"

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>

#include <fstream>
#include <sstream>

namespace tandem::core {
namespace {

using std::chrono::milliseconds;

TEST(RateLimiter, LetsBurstThroughThenCountsTheRest) {
  RateLimiter lim(milliseconds(1000), 3);
  TimePoint t(std::chrono::seconds(10));
  uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(lim.allow(t, &suppressed));
    EXPECT_EQ(suppressed, 0u);
  }
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(lim.allow(t + milliseconds(i * 100), &suppressed));
  EXPECT_EQ(lim.total_suppressed(), 7u);
  // A new window: the first line says how many were held back.
  EXPECT_TRUE(lim.allow(t + milliseconds(1000), &suppressed));
  EXPECT_EQ(suppressed, 7u);
  EXPECT_TRUE(lim.allow(t + milliseconds(1001), &suppressed));
  EXPECT_EQ(suppressed, 0u);
}

TEST(LogLimited, WritesOneLinePerAllowedEventAndMentionsSuppressed) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  LogOptions opts;
  ASSERT_TRUE(init_logging(opts));
  logger().sinks().clear();
  logger().sinks().push_back(sink);
  logger().set_pattern("%l %v");
  RateLimiter lim(milliseconds(1000), 1);
  TimePoint t(std::chrono::seconds(1));
  for (int i = 0; i < 5; ++i) log_limited(lim, t, spdlog::level::warn, "bad packet {}", i);
  log_limited(lim, t + milliseconds(1500), spdlog::level::warn, "bad packet {}", 5);
  EXPECT_EQ(out.str(),
            "warning bad packet 0\n"
            "warning bad packet 5 (4 similar lines suppressed)\n");
}

TEST(LogParse, SinksAndLevels) {
  std::string path;
  EXPECT_EQ(parse_log_sink("stderr", &path).value(), LogOptions::Sink::kStderr);
  EXPECT_EQ(parse_log_sink("syslog", &path).value(), LogOptions::Sink::kSyslog);
  EXPECT_EQ(parse_log_sink("file:/var/log/x.log", &path).value(), LogOptions::Sink::kFile);
  EXPECT_EQ(path, "/var/log/x.log");
  EXPECT_FALSE(parse_log_sink("file:", &path));
  EXPECT_EQ(parse_log_level("notice").value(), spdlog::level::info);
  EXPECT_EQ(parse_log_level("warning").value(), spdlog::level::warn);
  auto bad = parse_log_level("loud");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unknown log level 'loud'"), std::string::npos);
}

TEST(Logging, FileSinkAppendsOneLinePerEvent) {
  std::string path = ::testing::TempDir() + "tandem_log_test.log";
  std::remove(path.c_str());
  LogOptions opts;
  opts.sink = LogOptions::Sink::kFile;
  opts.path = path;
  opts.ident = "tandem-test";
  ASSERT_TRUE(init_logging(opts));
  logger().info("state {} -> {}", "BACKUP", "MASTER");
  std::ifstream in(path);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_NE(line.find("tandem-test["), std::string::npos);
  EXPECT_NE(line.find("info: state BACKUP -> MASTER"), std::string::npos);
  EXPECT_FALSE(std::getline(in, line));
  LogOptions bad;
  bad.sink = LogOptions::Sink::kFile;
  bad.path = "/nonexistent-dir/x.log";
  EXPECT_FALSE(init_logging(bad));
  ASSERT_TRUE(init_logging(LogOptions{}));
}

}  // namespace
}  // namespace tandem::core
