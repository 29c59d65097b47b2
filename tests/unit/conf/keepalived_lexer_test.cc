#include "conf/keepalived_lexer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/conf/test_util.h"

namespace tandem::conf {
namespace {

using testing::brief;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A compact rendering of a tree: "kw arg arg { child; child }", quoted words in [brackets].
std::string show(const std::vector<Node>& nodes) {
  std::string out;
  for (const Node& n : nodes) {
    if (!out.empty()) out += "; ";
    out += n.keyword.quoted ? "[" + n.keyword.text + "]" : n.keyword.text;
    for (const Word& a : n.args) out += " " + (a.quoted ? "[" + a.text + "]" : a.text);
    if (n.has_block) out += " { " + show(n.children) + " }";
  }
  return out;
}

struct Parsed {
  std::vector<Node> nodes;
  core::Diagnostics diags;
};

Parsed parse(std::string_view text, IncludeOptions opts = {}) {
  Parsed p;
  opts.follow = false;
  opts.instance = "node-a";
  p.nodes = parse_keepalived(text, std::make_shared<const std::string>("k.conf"), p.diags, opts);
  return p;
}

TEST(KeepalivedParser, BlocksAndLocations) {
  auto p = parse(
      "global_defs {\n"
      "  router_id LB1\n"
      "}\n"
      "vrrp_instance VI_1 {\n"
      "\tstate BACKUP\n"
      "\tvirtual_ipaddress {\n"
      "\t\t10.0.0.10/24 dev eth0\n"
      "\t}\n"
      "}\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes),
            "global_defs { router_id LB1 }; vrrp_instance VI_1 { state BACKUP; virtual_ipaddress "
            "{ 10.0.0.10/24 dev eth0 } }");
  const Node& vi = p.nodes[1];
  EXPECT_EQ(vi.where.to_string(), "k.conf:4:1");
  EXPECT_EQ(vi.block_where.to_string(), "k.conf:4:20");
  EXPECT_EQ(vi.children[1].children[0].where.to_string(), "k.conf:7:3");
  EXPECT_EQ(vi.children[1].children[0].args[0].where.column, 16u);
  EXPECT_EQ(vi.children[1].children[0].args[1].where.column, 20u);
}

TEST(KeepalivedParser, BracesAreTokensEvenWhenGlued) {
  auto p = parse("vrrp_instance VI_1{\nvirtual_ipaddress {10.0.0.1 10.0.0.2}\n}\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes), "vrrp_instance VI_1 { virtual_ipaddress { 10.0.0.1 10.0.0.2 } }");
}

TEST(KeepalivedParser, OpeningBraceAloneOnALineBelongsToTheStatementAbove) {
  auto p = parse("vrrp_instance VI_1\n# comment\n\n{\n  priority 100\n}\nnext\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes), "vrrp_instance VI_1 { priority 100 }; next");
}

TEST(KeepalivedParser, OneLineBlocksAndStatementsAfterBraces) {
  auto p = parse("a { b 1 } c\nd {\n}\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes), "a { b 1 }; c; d {  }");
}

TEST(KeepalivedParser, CommentsStartAnywhereOutsideQuotes) {
  auto p = parse("! a bang comment\nrouter_id a#b\nx y!z\nnotify \"/bin/x #1 !2\" # trailing\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes), "router_id a; x y; notify [/bin/x #1 !2]");
}

TEST(KeepalivedParser, QuotedStringsKeepSpacesAndJoin) {
  auto p = parse("a abcd\" efg h jkl \"mnop\nb abcd \"efg h jkl\" mnop\nc \"{ }\" \"\"\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes), "a [abcd efg h jkl mnop]; b abcd [efg h jkl] mnop; c [{ }] []");
}

TEST(KeepalivedParser, EscapesInsideDoubleQuotesOnly) {
  auto p = parse(R"(a "t\tn\nx\x41o\101q\"b\\c\E\cA" x\ty 'single quoted')"
                 "\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  ASSERT_EQ(p.nodes.size(), 1u);
  EXPECT_EQ(p.nodes[0].args[0].text, "t\tn\nxAoAq\"b\\c\x1b\x01");
  EXPECT_EQ(p.nodes[0].args[1].text, "x\\ty");    // a backslash outside quotes is literal
  EXPECT_EQ(p.nodes[0].args[2].text, "'single");  // single quotes are ordinary characters
}

TEST(KeepalivedParser, PredefinedParameters) {
  auto p = parse("a ${_PWD}/x \"${_HASH}1\" $_INSTANCE ${_INSTANCE}b $OTHER ${UNDEF}\n");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes), "a ./x [#1] node-a node-ab $OTHER ${UNDEF}");
}

TEST(KeepalivedParser, UnclosedBlocksAreReportedWhereTheyOpen) {
  auto p = parse("vrrp_instance VI_1 {\n  virtual_ipaddress {\n    10.0.0.1\n  track {\n");
  EXPECT_THAT(brief(p.diags),
              ElementsAre("4:9: error: block of 'track' opened here is never closed",
                          "2:21: error: block of 'virtual_ipaddress' opened here is never closed",
                          "1:20: error: block of 'vrrp_instance' opened here is never closed"));
  EXPECT_EQ(p.diags.all()[0].hint, "add the missing '}'");
  EXPECT_EQ(show(p.nodes), "vrrp_instance VI_1 { virtual_ipaddress { 10.0.0.1; track {  } } }");
}

TEST(KeepalivedParser, UnexpectedClosingBraceAndStrayOpeningBrace) {
  auto p = parse("a 1\n}\nb {\n}\n}\n{\n  c\n}\n{ d }\n");
  EXPECT_THAT(brief(p.diags), ElementsAre("2:1: error: unexpected '}': no block is open here",
                                          "5:1: error: unexpected '}': no block is open here",
                                          "6:1: error: '{' does not follow a statement",
                                          "9:1: error: '{' does not follow a statement"));
  EXPECT_EQ(show(p.nodes), "a 1; b {  }");
}

TEST(KeepalivedParser, NestingIsBounded) {
  std::string deep;
  for (int k = 0; k < 40; ++k) deep += "b" + std::to_string(k) + " {\n";
  for (int k = 0; k < 40; ++k) deep += "}\n";
  deep += "after\n";
  auto p = parse(deep);
  EXPECT_THAT(brief(p.diags), ElementsAre("33:5: error: blocks are nested more than 32 deep"));
  ASSERT_EQ(p.nodes.size(), 2u);
  EXPECT_EQ(p.nodes[1].keyword.text, "after");
}

TEST(KeepalivedParser, UnterminatedQuote) {
  auto p = parse("notify_master \"/bin/true x\nrouter_id ok\n");
  EXPECT_THAT(brief(p.diags), ElementsAre("1:15: error: unterminated double quote"));
  EXPECT_EQ(show(p.nodes), "notify_master; router_id ok");
}

TEST(KeepalivedParser, CrlfTabsAndEmptyFiles) {
  EXPECT_TRUE(parse("").nodes.empty());
  EXPECT_TRUE(parse("\n\n  \t\n# c\n! d\n").nodes.empty());
  auto p = parse("a {\r\n\tb\t1\r\n}\r\n");
  EXPECT_TRUE(p.diags.empty());
  EXPECT_EQ(show(p.nodes), "a { b 1 }");
}

TEST(KeepalivedParser, BinaryGarbage) {
  std::string text = std::string("a {\n  b") + '\0' + "c\n\x7f\x80\n}\n";
  auto p = parse(text);
  EXPECT_THAT(brief(p.diags), ElementsAre("2:4: error: NUL byte in configuration text",
                                          "3:1: error: control character 0x7f in configuration "
                                          "text"));
  EXPECT_EQ(show(p.nodes), "a {  }");
}

TEST(KeepalivedParser, UnsupportedTemplatingIsAnError) {
  auto p = parse(
      "@main router_id main\n"
      "$PRIO=100\n"
      "$MULTI= \\\n"
      "  vrrp_instance X { \\\n"
      "  }\n"
      "~SEQ(N, 1, 3) x $N\n"
      "after 1\n");
  EXPECT_THAT(brief(p.diags),
              ElementsAre("1:1: error: conditional configuration ('@main') is not supported",
                          "2:1: error: parameter definitions ($NAME=VALUE) are not supported",
                          "3:1: error: parameter definitions ($NAME=VALUE) are not supported",
                          "6:1: error: '~SEQ' line repetition is not supported"));
  EXPECT_EQ(show(p.nodes), "router_id main; after 1");
}

TEST(KeepalivedParser, IncludeRefusedWhenNotFollowing) {
  auto p = parse("include /etc/passwd\nx\n");
  EXPECT_THAT(brief(p.diags), ElementsAre("1:1: error: include is not allowed here"));
  EXPECT_EQ(show(p.nodes), "x");
}

class KeepalivedInclude : public ::testing::Test {
 protected:
  Parsed load(const std::string& name, IncludeOptions opts = {}) {
    Parsed p;
    p.nodes = load_keepalived(dir.path() + "/" + name, p.diags, opts);
    return p;
  }
  testing::TempDir dir;
};

TEST_F(KeepalivedInclude, NestedRelativeIncludesAndGlobs) {
  dir.write("keepalived.conf",
            "global_defs {\n  include conf.d/*.conf\n}\ninclude sub/{b,a}.inc\n");
  dir.write("conf.d/20.conf", "two\n");
  dir.write("conf.d/10.conf", "one\ninclude ../sub/deeper/x.inc\n");
  dir.write("sub/a.inc", "a_file\n");
  dir.write("sub/b.inc", "b_file\n");
  dir.write("sub/deeper/x.inc", "x_file ${_PWD}\n");
  auto p = load("keepalived.conf");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  std::string real_dir = std::filesystem::canonical(dir.path()).string();
  EXPECT_EQ(show(p.nodes),
            "global_defs { one; x_file " + real_dir + "/sub/deeper; two }; b_file; a_file");
  EXPECT_EQ(*p.nodes[0].children[0].where.file, dir.path() + "/conf.d/10.conf");
  EXPECT_EQ(p.nodes[0].children[1].where.to_string(),
            dir.path() + "/conf.d/../sub/deeper/x.inc:1:1");
}

TEST_F(KeepalivedInclude, BlocksMaySpanFiles) {
  dir.write("k.conf", "vrrp_instance X {\ninclude body.inc\n");
  dir.write("body.inc", "  priority 100\n}\n");
  auto p = load("k.conf");
  EXPECT_TRUE(p.diags.empty()) << p.diags.to_string();
  EXPECT_EQ(show(p.nodes), "vrrp_instance X { priority 100 }");
}

TEST_F(KeepalivedInclude, MissingIncludeIsAWarningAndStrictVariantsAnError) {
  dir.write("k.conf", "include nothing/*.conf\nincludet missing.conf\nok\n");
  auto p = load("k.conf");
  EXPECT_THAT(brief(p.diags),
              ElementsAre("1:9: warning: no file matches include pattern 'nothing/*.conf'",
                          "2:10: error: no file matches include pattern 'missing.conf'"));
  EXPECT_EQ(show(p.nodes), "ok");
}

TEST_F(KeepalivedInclude, IncludeLoopIsAnErrorNamingTheChain) {
  dir.write("a.conf", "a1\ninclude b.conf\na2\n");
  dir.write("b.conf", "b1\ninclude a.conf\n");
  auto p = load("a.conf");
  ASSERT_EQ(p.diags.error_count(), 1u) << p.diags.to_string();
  const auto& d = p.diags.all()[0];
  EXPECT_EQ(d.where.to_string(), dir.path() + "/b.conf:2:9");
  EXPECT_EQ(d.message, "include loop: " + dir.path() + "/a.conf -> " + dir.path() + "/b.conf -> " +
                           dir.path() + "/a.conf");
  EXPECT_EQ(show(p.nodes), "a1; b1; a2");
}

TEST_F(KeepalivedInclude, SelfIncludeThroughAGlob) {
  dir.write("k.conf", "x\ninclude *.conf\n");
  auto p = load("k.conf");
  EXPECT_EQ(p.diags.error_count(), 1u);
  EXPECT_THAT(p.diags.all()[0].message, HasSubstr("include loop"));
}

TEST_F(KeepalivedInclude, DepthLimit) {
  dir.write("0.conf", "include 1.conf\n");
  dir.write("1.conf", "include 2.conf\n");
  dir.write("2.conf", "include 3.conf\n");
  dir.write("3.conf", "deep\n");
  IncludeOptions opts;
  opts.max_depth = 2;
  auto p = load("0.conf", opts);
  EXPECT_THAT(brief(p.diags), ElementsAre("1:9: error: includes are nested more than 2 deep"));
  EXPECT_EQ(*p.diags.all()[0].where.file, dir.path() + "/2.conf");
  EXPECT_TRUE(p.nodes.empty());
}

TEST_F(KeepalivedInclude, MissingTopFileAndBadIncludeLines) {
  auto p = load("nope.conf");
  ASSERT_EQ(p.diags.error_count(), 1u);
  EXPECT_THAT(p.diags.all()[0].message, HasSubstr("cannot open"));
  dir.write("k.conf", "include\ninclude a b\ninclude \"\"\n");
  p = load("k.conf");
  EXPECT_THAT(brief(p.diags),
              ElementsAre("1:1: error: 'include' takes exactly one file name or pattern",
                          "2:1: error: 'include' takes exactly one file name or pattern",
                          "3:9: error: empty include pattern"));
}

TEST_F(KeepalivedInclude, ParseTextResolvesIncludesFromBaseDir) {
  dir.write("inc/x.conf", "from_include\n");
  IncludeOptions opts;
  opts.base_dir = dir.path();
  core::Diagnostics diags;
  auto nodes = parse_keepalived("include inc/x.conf\n", nullptr, diags, opts);
  EXPECT_TRUE(diags.empty()) << diags.to_string();
  EXPECT_EQ(show(nodes), "from_include");
}

}  // namespace
}  // namespace tandem::conf
