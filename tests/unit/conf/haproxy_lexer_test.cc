#include "conf/haproxy_lexer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "unit/conf/test_util.h"

namespace tandem::conf {
namespace {

using testing::brief;
using ::testing::ElementsAre;

struct Lexed {
  std::vector<Line> lines;
  core::Diagnostics diags;
  std::vector<std::vector<std::string>> texts() const {
    std::vector<std::vector<std::string>> out;
    for (const auto& l : lines) {
      out.emplace_back();
      for (const auto& w : l.words) out.back().push_back(w.text);
    }
    return out;
  }
};

Lexed lex(std::string_view text, std::map<std::string, std::string> env = {}) {
  Lexed r;
  EnvLookup lookup = [env](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  r.lines = lex_haproxy(text, std::make_shared<const std::string>("h.cfg"), r.diags, lookup);
  return r;
}

using Texts = std::vector<std::vector<std::string>>;

TEST(HaproxyLexer, WordsLinesAndLocations) {
  auto r = lex("global\n\tdaemon  # run in background\n\n  maxconn\t256\n");
  EXPECT_TRUE(r.diags.empty());
  EXPECT_EQ(r.texts(), (Texts{{"global"}, {"daemon"}, {"maxconn", "256"}}));
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[1].where.line, 2u);
  EXPECT_EQ(r.lines[1].where.column, 2u);  // a tab is one byte
  EXPECT_EQ(r.lines[2].words[1].where.column, 11u);
  EXPECT_EQ(*r.lines[2].words[1].where.file, "h.cfg");
  EXPECT_EQ(r.lines[2].where.to_string(), "h.cfg:4:3");
}

TEST(HaproxyLexer, EmptyAndCommentOnlyFiles) {
  EXPECT_TRUE(lex("").lines.empty());
  auto r = lex("# only a comment\n   \n\t# another\n");
  EXPECT_TRUE(r.lines.empty());
  EXPECT_TRUE(r.diags.empty());
}

TEST(HaproxyLexer, HashStartsACommentEvenInsideAWord) {
  auto r = lex("global#the global section\n  foo#bar baz\n  \"a#b\" 'c#d' e\\#f\n");
  EXPECT_EQ(r.texts(), (Texts{{"global"}, {"foo"}, {"a#b", "c#d", "e#f"}}));
}

TEST(HaproxyLexer, CrlfLineEndingsAndNoFinalNewline) {
  auto r = lex("global\r\n  maxconn 10\r\n  daemon");
  EXPECT_TRUE(r.diags.empty());
  EXPECT_EQ(r.texts(), (Texts{{"global"}, {"maxconn", "10"}, {"daemon"}}));
}

TEST(HaproxyLexer, QuotesJoinWithinOneWord) {
  auto r = lex("foo\"bar\"'baz' plain\n");
  EXPECT_EQ(r.texts(), (Texts{{"foobarbaz", "plain"}}));
  EXPECT_TRUE(r.lines[0].words[0].quoted);
  EXPECT_FALSE(r.lines[0].words[1].quoted);
}

TEST(HaproxyLexer, LogFormatEquivalentsFromTheManual) {
  auto r =
      lex("log-format %{+Q}o\\ %t\\ %s\\ %{-Q}r\n"
          "log-format \"%{+Q}o %t %s %{-Q}r\"\n"
          "log-format '%{+Q}o %t %s %{-Q}r'\n"
          "log-format \"%{+Q}o %t\"' %s %{-Q}r'\n"
          "log-format \"%{+Q}o %t\"' %s'\\ %{-Q}r\n");
  EXPECT_TRUE(r.diags.empty());
  ASSERT_EQ(r.lines.size(), 5u);
  for (const auto& l : r.lines) {
    EXPECT_THAT(l.words, ::testing::SizeIs(2));
    EXPECT_EQ(l.words[1].text, "%{+Q}o %t %s %{-Q}r");
  }
}

TEST(HaproxyLexer, BackslashEscapes) {
  auto r = lex(R"(a\ b \# \\ \" \' \$ \x41\x7e x\ty\n\r \q \x2)"
               "\n"
               R"(end\)"
               "\n");
  ASSERT_EQ(r.diags.all().size(), 1u);  // only the truncated \x2
  EXPECT_THAT(brief(r.diags), ElementsAre("1:42: error: truncated or invalid hexadecimal escape"));
  r = lex(R"(a\ b \# \\ \" \' \$ \x41\x7e x\ty\n\r \q)"
          "\n"
          R"(end\)"
          "\n");
  EXPECT_TRUE(r.diags.empty());
  EXPECT_EQ(r.texts(),
            (Texts{{"a b", "#", "\\", "\"", "'", "$", "A~", "x\ty\n\r", "\\q"}, {"end\\"}}));
}

TEST(HaproxyLexer, SingleQuotesAreLiteral) {
  auto r = lex(R"(x '\t $HOME ${X} "q" #' y)"
               "\n",
               {{"X", "no"}});
  EXPECT_TRUE(r.diags.empty());
  EXPECT_EQ(r.texts(), (Texts{{"x", R"(\t $HOME ${X} "q" #)", "y"}}));
}

TEST(HaproxyLexer, EnvironmentExpansionInDoubleQuotesOnly) {
  auto r = lex(R"(bind "fd@${FD}" "$USER.x" $USER "\$USER" "${NOPE-127.0.0.1}:514" "${E-x}")"
               "\n",
               {{"FD", "3"}, {"USER", "bob"}, {"E", ""}});
  EXPECT_TRUE(r.diags.empty()) << r.diags.to_string();
  EXPECT_EQ(r.texts(), (Texts{{"bind", "fd@3", "bob.x", "$USER", "$USER", "127.0.0.1:514", ""}}));
}

TEST(HaproxyLexer, UnsetVariableExpandsToNothingWithAWarning) {
  auto r = lex("user \"${NOPE}\" x\n");
  EXPECT_EQ(r.texts(), (Texts{{"user", "", "x"}}));  // the empty word stays, as in haproxy
  EXPECT_FALSE(r.diags.has_errors());
  EXPECT_THAT(brief(r.diags),
              ElementsAre("1:7: warning: environment variable 'NOPE' is not set; it expands to "
                          "nothing"));
  EXPECT_EQ(r.diags.all()[0].hint, "set it, or give a default: \"${NOPE-default}\"");
}

TEST(HaproxyLexer, ListExpansionMakesSeveralWords) {
  auto r = lex(R"(server-list "${L[*]}" end "a${L[*]}b" "${NONE[*]}" "${EMPTY[*]}" "")"
               "\n",
               {{"L", "1 2  3"}, {"EMPTY", ""}});
  EXPECT_EQ(r.texts(), (Texts{{"server-list", "1", "2", "3", "end", "a1", "2", "3b", ""}}));
  EXPECT_EQ(r.lines[0].words[2].where.column, 14u);  // a split word points at its '$'
}

TEST(HaproxyLexer, PseudoVariables) {
  auto r =
      lex("frontend web\n  x \"${.FILE}:${.LINE}:${.SECTION}\"\nglobal\n  y \"${.SECTION}\"\n");
  EXPECT_TRUE(r.diags.empty()) << r.diags.to_string();
  EXPECT_EQ(r.texts(),
            (Texts{{"frontend", "web"}, {"x", "h.cfg:2:web"}, {"global"}, {"y", "global"}}));
}

TEST(HaproxyLexer, UnterminatedQuotesAreReportedAtTheQuote) {
  auto r = lex("global\n  log \"127.0.0.1 local0\n  user 'bob\n  daemon\n");
  EXPECT_EQ(r.texts(), (Texts{{"global"}, {"daemon"}}));  // bad lines dropped, others kept
  EXPECT_THAT(brief(r.diags), ElementsAre("2:7: error: unterminated double quote",
                                          "3:8: error: unterminated single quote"));
  EXPECT_EQ(r.diags.all()[0].hint, "close the quote on the same line; a word cannot span lines");
}

TEST(HaproxyLexer, BadVariableReferences) {
  auto r = lex("a \"x$\"\nb \"${X\"\nc \"${X[]}\"\nd \"$1\"\ne \"${.NOPE}\"\nf \"${}\"\n");
  EXPECT_TRUE(r.lines.empty());
  EXPECT_THAT(brief(r.diags),
              ElementsAre("1:5: error: '$' not followed by an environment variable name",
                          "2:4: error: unmatched brace in environment variable reference",
                          "3:7: error: invalid word expansion: only \"[*]\" may follow a "
                          "variable name",
                          "4:4: error: '$' not followed by an environment variable name",
                          "5:4: error: unknown pseudo-variable '.NOPE'",
                          "6:6: error: forbidden first character in environment variable name"));
}

TEST(HaproxyLexer, BinaryGarbageIsAnErrorPerLine) {
  std::string text = "global\n  dae\0mon\n\x01\x02\xff\n  maxconn 5\n";
  text = std::string("global\n  dae") + '\0' + "mon\n\x01\x02\xff\n  maxconn 5\n";
  auto r = lex(text);
  EXPECT_EQ(r.texts(), (Texts{{"global"}, {"maxconn", "5"}}));
  EXPECT_THAT(brief(r.diags), ElementsAre("2:6: error: NUL byte in configuration text",
                                          "3:1: error: control character 0x01 in configuration "
                                          "text"));
}

TEST(HaproxyLexer, HighBytesAreOrdinaryCharacters) {
  auto r = lex("description caf\xc3\xa9\n");
  EXPECT_TRUE(r.diags.empty());
  EXPECT_EQ(r.texts(), (Texts{{"description", "caf\xc3\xa9"}}));
}

TEST(HaproxyLexer, VeryLongLines) {
  std::string ok = "description " + std::string(60000, 'x') + "\n";
  auto r = lex(ok);
  EXPECT_TRUE(r.diags.empty());
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0].words[1].text.size(), 60000u);

  r = lex("global\n" + std::string(70000, 'y') + "\n  daemon\n");
  EXPECT_EQ(r.texts(), (Texts{{"global"}, {"daemon"}}));
  EXPECT_THAT(brief(r.diags), ElementsAre("2:65537: error: line is longer than 65536 bytes"));
}

TEST(HaproxyLexer, AllErrorsOfAFileAreReported) {
  auto r = lex("a \"x\nb 'y\nc \\xZZ\nd ok\ne \"${\"\n");
  EXPECT_EQ(r.diags.error_count(), 4u);
  EXPECT_EQ(r.texts(), (Texts{{"d", "ok"}}));
}

TEST(HaproxyLexer, SinkSeesEachLineBeforeTheNextIsExpanded) {
  std::map<std::string, std::string> env;
  EnvLookup lookup = [&env](std::string_view n) -> std::optional<std::string> {
    auto it = env.find(std::string(n));
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  core::Diagnostics diags;
  std::vector<std::string> seen;
  lex_haproxy("setenv A 1\nx \"${A}\"\n", nullptr, diags, lookup, [&](Line&& l) {
    if (l.words[0].text == "setenv") env[l.words[1].text] = l.words[2].text;
    seen.push_back(l.words.back().text);
  });
  EXPECT_TRUE(diags.empty());
  EXPECT_THAT(seen, ElementsAre("1", "1"));
}

TEST(HaproxyLexer, LoadsFilesAndFoldersInLexicalOrder) {
  testing::TempDir dir;
  dir.write("conf.d/20-b.cfg", "backend b\n");
  dir.write("conf.d/10-a.cfg", "frontend a\n");
  dir.write("conf.d/.hidden.cfg", "listen hidden\n");
  dir.write("conf.d/notes.txt", "not read\n");
  std::string main = dir.write("main.cfg", "global\n  daemon\n");
  core::Diagnostics diags;
  auto lines = load_haproxy({main, dir.path() + "/conf.d", dir.path() + "/missing.cfg"}, diags);
  std::vector<std::string> firsts;
  for (const auto& l : lines) firsts.push_back(l.words[0].text + "@" + *l.where.file);
  EXPECT_THAT(firsts, ElementsAre("global@" + main, "daemon@" + main,
                                  "frontend@" + dir.path() + "/conf.d/10-a.cfg",
                                  "backend@" + dir.path() + "/conf.d/20-b.cfg"));
  ASSERT_EQ(diags.error_count(), 1u);
  EXPECT_EQ(*diags.all()[0].where.file, dir.path() + "/missing.cfg");
  EXPECT_THAT(diags.all()[0].message, ::testing::HasSubstr("cannot open"));
}

}  // namespace
}  // namespace tandem::conf
