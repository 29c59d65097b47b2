// Keyword tables: one entry per supported keyword (name, arguments, handler, one-line doc),
// shared by the keepalived block grammar and the haproxy line grammar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "conf/haproxy_lexer.h"
#include "conf/keepalived_lexer.h"
#include "conf/word.h"
#include "core/diagnostic.h"

namespace tandem::conf {

// What a handler sees of a statement, whichever grammar it came from.
struct Statement {
  const Word* keyword = nullptr;
  std::span<const Word> args;
  const Node* node = nullptr;  // keepalived: the node, for its block; null for haproxy lines

  static Statement of(const Node& n) { return {&n.keyword, n.args, &n}; }
  static Statement of(const Line& l) {
    return {&l.words.front(), std::span<const Word>(l.words).subspan(1), nullptr};
  }
  const core::SourceLocation& where() const { return keyword->where; }
  bool has_block() const { return node != nullptr && node->has_block; }
  const std::vector<Node>& children() const {
    static const std::vector<Node> kNone;
    return node != nullptr ? node->children : kNone;
  }
  // The same statement one word further on, for keywords made of several words
  // ("timeout connect 5s" -> keyword "connect", args "5s"). Needs at least one argument.
  Statement shifted() const { return {&args.front(), args.subspan(1), node}; }
};

enum class BlockRule { kNone, kRequired, kOptional };
inline constexpr size_t kUnbounded = SIZE_MAX;

// How a dispatch ended; anything but kHandled has been reported as an error.
enum class DispatchResult { kHandled, kUnknown, kUnsupported, kWrongArgCount, kWrongBlock };

// The part of a table that does not depend on its target: names, arities, docs, suggestions.
class KeywordTableBase {
 public:
  struct Info {
    std::string name;
    std::string args_doc;  // e.g. "<ADDRESS> [dev <IFACE>]"
    size_t min_args = 0;
    size_t max_args = 0;
    BlockRule block = BlockRule::kNone;
    std::string doc;                           // one line
    const KeywordTableBase* nested = nullptr;  // the table of its block or its sub-keywords
  };
  struct Unsupported {
    std::string name;
    std::string reason;  // shown as the hint
  };

  // `context` names where the keywords are valid ("vrrp_instance", "global section");
  // `program` is who rejects unsupported ones ("tandem-vrrp").
  KeywordTableBase(std::string context, std::string program)
      : context_(std::move(context)), program_(std::move(program)) {}
  virtual ~KeywordTableBase() = default;
  KeywordTableBase(const KeywordTableBase&) = delete;
  KeywordTableBase& operator=(const KeywordTableBase&) = delete;

  void add_unsupported(std::string name, std::string reason);

  const std::string& context() const { return context_; }
  const std::vector<Info>& entries() const { return infos_; }
  const std::vector<Unsupported>& unsupported() const { return unsupported_; }
  const Info* find(std::string_view name) const;

  // The closest known keyword (edit distance of at most 2, 1 for short words), if any.
  std::optional<std::string> suggest(std::string_view unknown) const;

  // A Markdown reference: one table row per keyword (name, arguments, doc), the unsupported
  // ones with their reasons, then the nested tables, each under its own heading.
  std::string markdown(int heading_level = 3) const;

 protected:
  // Checks the statement against the table; on success returns the entry's index.
  std::optional<size_t> check(const Statement& st, core::Diagnostics& diags,
                              DispatchResult& result) const;
  void add_info(Info info);

 private:
  void render(std::string& out, int level, std::vector<const KeywordTableBase*>& seen) const;

  std::string context_;
  std::string program_;
  std::vector<Info> infos_;
  std::vector<Unsupported> unsupported_;
};

template <class Target>
class KeywordTable : public KeywordTableBase {
 public:
  using Handler = std::function<void(const Statement&, Target&, core::Diagnostics&)>;

  struct Keyword {
    std::string name;
    std::string args_doc;
    size_t min_args = 0;
    size_t max_args = 0;
    Handler handler;
    std::string doc;
    BlockRule block = BlockRule::kNone;
    const KeywordTableBase* nested = nullptr;
  };

  using KeywordTableBase::KeywordTableBase;

  // Adds an entry; a duplicate name or a missing handler is a programming error.
  KeywordTable& add(Keyword k) {
    if (!k.handler) throw std::logic_error("keyword '" + k.name + "' has no handler");
    add_info(Info{k.name, std::move(k.args_doc), k.min_args, k.max_args, k.block, std::move(k.doc),
                  k.nested});
    handlers_.push_back(std::move(k.handler));
    return *this;
  }

  // Checks the statement and, when it fits an entry, runs that entry's handler.
  DispatchResult dispatch(const Statement& st, Target& target, core::Diagnostics& diags) const {
    DispatchResult result = DispatchResult::kHandled;
    if (auto index = check(st, diags, result)) handlers_[*index](st, target, diags);
    return result;
  }
  DispatchResult dispatch(const Node& node, Target& target, core::Diagnostics& diags) const {
    return dispatch(Statement::of(node), target, diags);
  }
  DispatchResult dispatch(const Line& line, Target& target, core::Diagnostics& diags) const {
    return dispatch(Statement::of(line), target, diags);
  }
  // Every statement of a block (or of a whole keepalived file); errors never stop it.
  void dispatch_all(const std::vector<Node>& nodes, Target& target,
                    core::Diagnostics& diags) const {
    for (const Node& n : nodes) dispatch(n, target, diags);
  }

 private:
  std::vector<Handler> handlers_;
};

}  // namespace tandem::conf
