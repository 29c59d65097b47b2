// show stat / ;csv, show info and show servers state against Debian's haproxy 2.6 captures.
#include <gtest/gtest.h>

#include "lb/stats/csv.h"
#include "sample_view.h"

namespace tandem::lb::stats {
namespace {

using testing::read_testdata;
using testing::sample_view;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

TEST(StatsCsv, HeaderIsHaproxys) {
  const auto theirs = lines(read_testdata("show_stat.csv"));
  ASSERT_FALSE(theirs.empty());
  EXPECT_EQ(csv_header(), theirs[0] + "\n");
  // The first 50 columns are what most parsers read: check them by name too.
  const auto names = fields(theirs[0].substr(2));
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(kColumnNames[i], names[i]) << i;
  EXPECT_EQ(names.size(), kColumnCount + 1);  // the trailing comma leaves an empty field
}

// Every row of the capture, field by field, from a view in the same state. need_conn_est is an
// estimate of haproxy's connection pool that tandem does not make (always 0).
TEST(StatsCsv, RowsMatchHaproxysForTheSameState) {
  const auto theirs = lines(read_testdata("show_stat.csv"));
  CsvOptions o;
  o.show_legends = true;  // the capture was made at admin level
  const auto ours = lines(render_csv(sample_view(), o));
  // haproxy's ends with an empty line, which our CLI adds after every answer.
  ASSERT_EQ(theirs.size(), ours.size() + 1);
  EXPECT_EQ(theirs.back(), "");
  for (size_t i = 1; i < ours.size(); ++i) {
    const auto a = fields(theirs[i]), b = fields(ours[i]);
    ASSERT_EQ(a.size(), b.size()) << theirs[i];
    for (size_t c = 0; c < kColumnCount; ++c) {
      if (c == kNeedConnEst) continue;
      EXPECT_EQ(a[c], b[c]) << a[0] << "/" << a[1] << " column " << kColumnNames[c];
    }
  }
}

TEST(StatsCsv, UserLevelHidesAddressesAndAlgorithms) {
  const std::string csv = render_csv(sample_view());
  EXPECT_EQ(csv.find("127.0.0.1:9"), std::string::npos);
  EXPECT_EQ(csv.find("roundrobin"), std::string::npos);
}

TEST(StatsCsv, FiltersAndStates) {
  StatsView v = sample_view();
  ServerView& s1 = v.proxies[1].servers[0];
  CsvOptions o;
  o.no_maint = true;
  std::string csv = render_csv(v, o);
  EXPECT_EQ(csv.find("\nbe,s2,"), std::string::npos);
  EXPECT_NE(csv.find("\nbe,s1,"), std::string::npos);
  o = {};
  o.up_only = true;
  csv = render_csv(v, o);
  EXPECT_EQ(csv.find("\nbe,s1,"), std::string::npos);  // DOWN
  EXPECT_NE(csv.find("\nbe,s3,"), std::string::npos);  // no check: UP

  // The status column through a server's life (rise 2, fall 3: health 0..4).
  s1.op = OpState::kStopped;
  s1.health = 1;
  EXPECT_EQ(s1.status(), "DOWN 1/2");
  s1.op = OpState::kRunning;
  s1.health = 4;
  EXPECT_EQ(s1.status(), "UP");
  s1.health = 3;
  EXPECT_EQ(s1.status(), "UP 2/3");
  s1.admin = AdminState::kDrain;
  EXPECT_EQ(s1.status(), "DRAIN 2/3");
  EXPECT_EQ(s1.state_label(), "DRAIN");
  s1.health = 4;
  EXPECT_EQ(s1.status(), "DRAIN");
  s1.admin = AdminState::kReady;
  s1.op = OpState::kStopping;
  EXPECT_EQ(s1.status(), "NOLB");
  s1.admin = AdminState::kMaint;
  EXPECT_EQ(s1.status(), "MAINT");
  EXPECT_EQ(s1.state_label(), "MAINT");
  s1.admin = AdminState::kReady;
  s1.checked = false;
  s1.op = OpState::kRunning;
  EXPECT_EQ(s1.status(), "no check");
}

TEST(StatsCsv, QuotesFieldsWithCommas) {
  EXPECT_EQ(csv_escape("plain"), "plain");
  EXPECT_EQ(csv_escape("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_escape("say \"x\""), "\"say \"\"x\"\"\"");
  StatsView v = sample_view();
  v.proxies[1].servers[0].last_check->info = "refused, twice";
  EXPECT_NE(render_csv(v).find(",\"refused, twice\","), std::string::npos);
}

TEST(StatsInfo, FieldNamesAreHaproxys) {
  std::vector<std::string> theirs, ours;
  for (const auto& l : lines(read_testdata("show_info.txt"))) {
    if (!l.empty()) theirs.push_back(l.substr(0, l.find(':')));
  }
  for (const auto& l : lines(render_info(sample_view()))) {
    ASSERT_FALSE(l.empty());
    ours.push_back(l.substr(0, l.find(':')));
  }
  EXPECT_EQ(ours, theirs);
}

TEST(StatsInfo, Values) {
  StatsView v = sample_view();
  v.process.uptime_s = 90061;
  const std::string info = render_info(v);
  EXPECT_NE(info.find("Pid: 4242\n"), std::string::npos);
  EXPECT_NE(info.find("Uptime: 1d 1h01m01s\nUptime_sec: 90061\n"), std::string::npos);
  EXPECT_NE(info.find("Nbthread: 2\n"), std::string::npos);
  EXPECT_NE(info.find("Maxconn: 1000\n"), std::string::npos);
}

TEST(StatsServersState, HeaderAndLinesAsHaproxy) {
  const std::string ours = render_servers_state(sample_view());
  EXPECT_TRUE(ours.starts_with(read_testdata("servers_state_header.txt"))) << ours;
  // haproxy printed for the same servers (the capture's seconds-since-change column is 0).
  EXPECT_NE(ours.find("3 be 1 s1 127.0.0.1 0 0 1 1 0 8 2 0 6 0 0 0 - 9 - 0 0 - - 0\n"),
            std::string::npos);
  EXPECT_NE(ours.find("3 be 2 s2 127.0.0.1 0 5 50 50 0 1 0 0 8 0 0 0 - 9 - 0 0 - - 0\n"),
            std::string::npos);
  EXPECT_NE(ours.find("3 be 3 s3 127.0.0.1 2 0 1 1 0 1 0 2 0 0 0 0 - 9 - 0 0 - - 0\n"),
            std::string::npos);
  const std::string li = render_servers_state(sample_view(), "li");
  EXPECT_EQ(li.find(" be "), std::string::npos);
  EXPECT_NE(li.find("4 li 1 l1 "), std::string::npos);
}

}  // namespace
}  // namespace tandem::lb::stats
