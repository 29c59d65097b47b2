// The runtime API: every command replayed against haproxy 2.6's captured answers, levels,
// bad arguments, unknown backends and servers, `;` lists and the interactive mode.
#include "lb/stats/admin_api.h"

#include <gtest/gtest.h>

#include <map>

#include "sample_view.h"

namespace tandem::lb::stats {
namespace {

using testing::FakeTarget;
using testing::read_testdata;
using testing::sample_view;

struct Exchange {
  Level level;
  std::string command;
  std::string answer;
};

// testdata/answers.txt: "### LEVEL COMMAND" then haproxy's raw answer, for each line of
// testdata/commands.txt.
std::vector<Exchange> captured() {
  const std::string text = read_testdata("answers.txt");
  std::vector<Exchange> out;
  size_t pos = 0;
  while ((pos = text.find("### ", pos)) != std::string::npos) {
    const size_t eol = text.find('\n', pos);
    const std::string head = text.substr(pos + 4, eol - pos - 4);
    size_t next = text.find("\n### ", eol);
    next = next == std::string::npos ? text.size() : next + 1;
    const size_t sp = head.find(' ');
    out.push_back({*parse_level(head.substr(0, sp)), head.substr(sp + 1),
                   text.substr(eol + 1, next - eol - 1)});
    pos = next;
  }
  return out;
}

// Where tandem answers differently on purpose: it lists only the `set server` options it has.
const std::map<std::string, std::string> kOurs = {
    {"set server be/s1", "usage: set server <backend>/<server> state | weight\n\n"},
};

TEST(AdminApi, AnswersAsHaproxyToEveryCapturedCommand) {
  FakeTarget target(sample_view());
  const auto exchanges = captured();
  ASSERT_GT(exchanges.size(), 60u);
  for (const auto& e : exchanges) {
    CliSession session(target, e.level);
    const auto reply = session.handle_line(e.command);
    const auto ours = kOurs.find(e.command);
    EXPECT_EQ(reply.text, ours != kOurs.end() ? ours->second : e.answer)
        << to_string(e.level) << " " << e.command;
    EXPECT_TRUE(reply.close);
  }
  // The changes that went through, in order.
  EXPECT_EQ(target.log(),
            "state be/s1 maint;state be/s1 ready;weight be/s1 10;weight be/s2 25;"
            "weight be/s2 10;state be/s1 drain;state be/s1 maint;state be/s1 ready;"
            "weight be/s1 7;maxconn be/s1 20;shutdown be/s1;weight be/s1 1;");
}

TEST(AdminApi, EveryChangingCommandNeedsAdmin) {
  const std::vector<std::string> commands = {
      "disable server be/s1",          "enable server be/s1",       "set weight be/s1 3",
      "set server be/s1 state maint",  "set server be/s1 weight 3", "set maxconn server be/s1 3",
      "shutdown sessions server be/s1"};
  for (Level level : {Level::kUser, Level::kOperator}) {
    FakeTarget target(sample_view());
    for (const auto& c : commands) {
      CliSession session(target, level);
      EXPECT_EQ(session.handle_line(c).text, "Permission denied\n\n") << c;
    }
    EXPECT_EQ(target.log(), "");
  }
  FakeTarget target(sample_view());
  for (const auto& c : commands) {
    CliSession session(target, Level::kAdmin);
    EXPECT_EQ(session.handle_line(c).text, "\n") << c;
  }
  EXPECT_EQ(target.log(),
            "state be/s1 maint;state be/s1 ready;weight be/s1 3;state be/s1 maint;"
            "weight be/s1 3;maxconn be/s1 3;shutdown be/s1;");
}

TEST(AdminApi, EnableLeavesADrainedServerDrained) {
  FakeTarget target(sample_view());
  target.state().proxies[1].servers[0].admin = AdminState::kDrain;
  CliSession(target, Level::kAdmin).handle_line("enable server be/s1");
  EXPECT_EQ(target.log(), "state be/s1 drain;");
}

TEST(AdminApi, WeightsRelativeCappedAndStatic) {
  FakeTarget target(sample_view());
  auto run = [&](std::string_view line) {
    return CliSession(target, Level::kAdmin).handle_line(line).text;
  };
  EXPECT_EQ(run("set weight be/s2 1000%"), "\n");  // 50 * 10 = 500, capped at 256
  EXPECT_EQ(run("get weight be/s2"), "256 (initial 50)\n\n");
  EXPECT_EQ(run("set weight be/s2 99999999999999999999%"), "\n");
  EXPECT_EQ(run("get weight be/s2"), "256 (initial 50)\n\n");
  EXPECT_EQ(run("set weight be/s2 99999999999999999999"),
            "Absolute weight can only be between 0 and 256 inclusive.\n\n");
  target.state().proxies[1].static_weights = true;
  EXPECT_EQ(run("set weight be/s2 10"),
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n");
  EXPECT_EQ(run("set weight be/s2 0%"), "\n");
  EXPECT_EQ(run("set weight be/s2 100%"), "\n");
}

TEST(AdminApi, MaxconnOutOfRangeIsRefused) {
  FakeTarget target(sample_view());
  auto run = [&](std::string_view line) {
    return CliSession(target, Level::kAdmin).handle_line(line).text;
  };
  EXPECT_EQ(run("set maxconn server be/s1 -1"), "maxconn must be between 0 and 4294967295.\n\n");
  EXPECT_EQ(run("set maxconn server be/s1 99999999999"),
            "maxconn must be between 0 and 4294967295.\n\n");
  EXPECT_EQ(run("set maxconn server be/s1 12x"), "Trailing garbage in maxconn string\n");
  EXPECT_EQ(run("set maxconn server be/s1 0"), "\n");
  EXPECT_EQ(target.log(), "maxconn be/s1 0;");
}

TEST(AdminApi, TargetErrorsReachTheOperator) {
  FakeTarget target(sample_view());
  target.fail_shutdown();
  EXPECT_EQ(CliSession(target, Level::kAdmin).handle_line("shutdown sessions server be/s1").text,
            "shutdown failed\n\n");
}

TEST(AdminApi, FrontendIsNoBackend) {
  FakeTarget target(sample_view());
  EXPECT_EQ(CliSession(target, Level::kAdmin).handle_line("disable server fe/s1").text,
            "No such backend.\n\n");
}

TEST(AdminApi, ShowCommands) {
  FakeTarget target(sample_view());
  const std::string user = CliSession(target, Level::kUser).handle_line("show stat").text;
  EXPECT_TRUE(user.starts_with("# pxname,svname,qcur,"));
  EXPECT_TRUE(user.ends_with(",\n\n"));
  EXPECT_EQ(user.find("127.0.0.1:9"), std::string::npos);  // user level: no addresses
  const std::string oper = CliSession(target, Level::kOperator).handle_line("show stat").text;
  EXPECT_NE(oper.find("127.0.0.1:9"), std::string::npos);
  EXPECT_EQ(CliSession(target, Level::kUser).handle_line("show stat no-maint").text.find("be,s2"),
            std::string::npos);
  EXPECT_NE(
      CliSession(target, Level::kUser).handle_line("show stat json").text.find("not supported"),
      std::string::npos);
  const std::string info = CliSession(target, Level::kUser).handle_line("show info").text;
  EXPECT_TRUE(info.starts_with("Name: tandem-lb\nVersion: 0.1.0\n"));
  EXPECT_TRUE(info.ends_with("Tainted: 0\n\n"));
  const std::string state =
      CliSession(target, Level::kUser).handle_line("show servers state tc").text;
  EXPECT_TRUE(state.starts_with("1\n# be_id be_name"));
  EXPECT_NE(state.find("\n5 tc 1 t1 "), std::string::npos);
  EXPECT_EQ(state.find(" be "), std::string::npos);
  EXPECT_TRUE(state.ends_with("\n\n"));
}

TEST(AdminApi, SeveralCommandsPerLineAndEscapes) {
  EXPECT_EQ(split_commands("a b;c\\;d  e;;\tf\\ g"),
            (std::vector<std::vector<std::string>>{{"a", "b"}, {"c;d", "e"}, {"f g"}}));
  FakeTarget target(sample_view());
  EXPECT_EQ(CliSession(target, Level::kUser).handle_line("show cli level;get weight tc/t1").text,
            "user\n\n1 (initial 1)\n\n");
  EXPECT_EQ(CliSession(target, Level::kUser).handle_line("").text, "");
}

TEST(AdminApi, LevelsGoDownOnly) {
  FakeTarget target(sample_view());
  CliSession s(target, Level::kAdmin);
  EXPECT_EQ(s.handle_line("operator;show cli level;disable server be/s1").text,
            "\noperator\n\nPermission denied\n\n");
  EXPECT_EQ(s.level(), Level::kOperator);
  CliSession u(target, Level::kUser);
  EXPECT_EQ(u.handle_line("operator").text, "Permission denied\n\n");
  EXPECT_EQ(u.level(), Level::kUser);
  EXPECT_EQ(target.log(), "");
}

TEST(AdminApi, InteractiveModeKeepsTheConnection) {
  FakeTarget target(sample_view());
  CliSession s(target, Level::kAdmin);
  auto r = s.handle_line("prompt");
  EXPECT_EQ(r.text, "\n> ");
  EXPECT_FALSE(r.close);
  r = s.handle_line("get weight be/s1");
  EXPECT_EQ(r.text, "1 (initial 1)\n\n> ");
  EXPECT_FALSE(r.close);
  r = s.handle_line("quit");
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.close);
}

TEST(AdminApi, HelpListsTheCommandsOfTheLevelInHaproxysWords) {
  const std::string theirs = read_testdata("help.txt");
  const std::string admin = help_text(Level::kAdmin);
  EXPECT_TRUE(admin.starts_with("The following commands are valid at this level:\n"));
  // Every command we list is one of haproxy's (same leading words, same column layout).
  size_t pos = admin.find('\n') + 1;
  int n = 0;
  while (pos < admin.size()) {
    const size_t eol = admin.find('\n', pos);
    const std::string line = admin.substr(pos, eol - pos);
    ASSERT_EQ(line.substr(42, 2), ": ") << line;
    std::string words = line.substr(2, line.find_first_of("<[(:", 2) - 2);
    while (words.ends_with(' ')) words.pop_back();
    EXPECT_NE(theirs.find("\n  " + words), std::string::npos) << words;
    pos = eol + 1;
    ++n;
  }
  EXPECT_EQ(n, 16);
  const std::string user = help_text(Level::kUser);
  EXPECT_EQ(user.find("set weight"), std::string::npos);
  EXPECT_NE(user.find("show stat"), std::string::npos);
  FakeTarget target(sample_view());
  const std::string set = CliSession(target, Level::kAdmin).handle_line("help set").text;
  EXPECT_NE(set.find("set weight"), std::string::npos);
  EXPECT_EQ(set.find("show stat"), std::string::npos);
  const std::string unknown = CliSession(target, Level::kAdmin).handle_line("set frobnicate").text;
  EXPECT_TRUE(unknown.starts_with(
      "Unknown command, but maybe one of the following ones is a better match:\n"));
  EXPECT_NE(unknown.find("  set maxconn server"), std::string::npos);
  EXPECT_EQ(unknown.find("  show stat"), std::string::npos);
  EXPECT_TRUE(unknown.ends_with("  quit                                    : disconnect\n\n"));
}

}  // namespace
}  // namespace tandem::lb::stats
