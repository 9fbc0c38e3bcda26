// The rule expression language: a tiny, side-effect-free language over the features of one window.
//
//   expr    := or
//   or      := and ( "or" and )*
//   and     := cmp ( "and" cmp )*
//   cmp     := sum ( ( ">" | ">=" | "<" | "<=" | "==" | "!=" ) sum )?
//   sum     := product ( ( "+" | "-" ) product )*
//   product := unary ( ( "*" | "/" ) unary )*
//   unary   := "-" unary | "not" unary | primary
//   primary := number | feature_name | "(" expr ")"
//
// Numbers may carry a `%` suffix (90% == 0.9). Feature names are the ones in
// contracts/feature_names.hpp. A missing feature is NaN, and any comparison involving NaN is false,
// so a rule never fires on data it does not have. Booleans are 1 and 0.
//
// Threading: a compiled Expression is immutable and may be evaluated from any thread.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal::rules {

class ExpressionError : public std::runtime_error {
 public:
  ExpressionError(std::size_t column, const std::string& what)
      : std::runtime_error(what), column_(column) {}
  std::size_t column() const { return column_; }  // 1-based position in the expression text

 private:
  std::size_t column_;
};

// The features a rule may name: every name in contracts/feature_names.hpp.
const std::vector<std::string_view>& known_features();
bool is_known_feature(std::string_view name);

struct ExprNode;

struct Evaluation {
  bool fired = false;   // the expression is true (non-zero and not NaN)
  double value = kAbsent;  // the left side of the first comparison: what {{value}} shows
};

class Expression {
 public:
  // Throws ExpressionError naming the column and the problem.
  static Expression compile(std::string_view text);

  Evaluation evaluate(const FeatureWindow& window) const;
  const std::string& text() const { return text_; }
  const std::vector<std::string>& features() const { return features_; }  // the names it reads

 private:
  std::string text_;
  std::shared_ptr<const ExprNode> root_;
  std::vector<std::string> features_;
};

}  // namespace selfheal::rules
