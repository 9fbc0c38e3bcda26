#include "rules/expression.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "contracts/feature_names.hpp"

namespace selfheal::rules {

const std::vector<std::string_view>& known_features() {
  namespace f = feature_names;
  static const std::vector<std::string_view> names = {
      f::kCpuMillicoresMean, f::kCpuUtilMean,     f::kCpuUtilMax,         f::kMemoryBytesMean,
      f::kMemoryBytesMax,    f::kMemoryUtilMax,   f::kMemorySlope,        f::kRestarts,
      f::kPodsReady,         f::kPods,            f::kRequestsPerS,       f::kErrorsPerS,
      f::kErrorRatio,        f::kLatencyP50,      f::kLatencyP95,         f::kLatencyP99,
      f::kDbQueryP95,        f::kDbConnectionsActive, f::kDbPoolWaitsPerS, f::kLogLines,
      f::kLogInfo,           f::kLogWarn,         f::kLogError,           f::kLogErrorRatio,
      f::kLogNewTemplates,   f::kLogUnparsed,     f::kLogDistinctTemplates};
  return names;
}

bool is_known_feature(std::string_view name) {
  const auto& n = known_features();
  return std::find(n.begin(), n.end(), name) != n.end();
}

enum class Op { Number, Feature, Neg, Not, Add, Sub, Mul, Div, Gt, Ge, Lt, Le, Eq, Ne, And, Or };

struct ExprNode {
  Op op = Op::Number;
  double number = 0;
  std::string feature;
  std::shared_ptr<const ExprNode> lhs, rhs;
};

namespace {

using NodePtr = std::shared_ptr<const ExprNode>;

struct Token {
  enum Kind { End, Number, Ident, Symbol } kind = End;
  std::string text;
  double number = 0;
  std::size_t column = 0;  // 1-based
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) { advance(); }

  NodePtr parse() {
    if (tok_.kind == Token::End) throw ExpressionError(1, "expression is empty");
    NodePtr n = parse_or();
    if (tok_.kind != Token::End)
      throw ExpressionError(tok_.column, "unexpected '" + tok_.text + "' at column " + std::to_string(tok_.column));
    return n;
  }
  std::vector<std::string> features;

 private:
  static NodePtr make(Op op, NodePtr l, NodePtr r) {
    auto n = std::make_shared<ExprNode>();
    n->op = op;
    n->lhs = std::move(l);
    n->rhs = std::move(r);
    return n;
  }

  NodePtr parse_or() {
    NodePtr l = parse_and();
    while (is_word("or")) { advance(); l = make(Op::Or, l, parse_and()); }
    return l;
  }
  NodePtr parse_and() {
    NodePtr l = parse_cmp();
    while (is_word("and")) { advance(); l = make(Op::And, l, parse_cmp()); }
    return l;
  }
  NodePtr parse_cmp() {
    NodePtr l = parse_sum();
    static const std::pair<std::string_view, Op> ops[] = {{">=", Op::Ge}, {"<=", Op::Le}, {"==", Op::Eq},
                                                          {"!=", Op::Ne}, {">", Op::Gt},  {"<", Op::Lt}};
    for (const auto& [sym, op] : ops)
      if (is_symbol(sym)) {
        advance();
        NodePtr r = parse_sum();
        for (const auto& [sym2, op2] : ops)
          if (is_symbol(sym2))
            throw ExpressionError(tok_.column, "chained comparison at column " + std::to_string(tok_.column) +
                                                   ": use 'and' between comparisons");
        return make(op, l, r);
      }
    return l;
  }
  NodePtr parse_sum() {
    NodePtr l = parse_product();
    while (is_symbol("+") || is_symbol("-")) {
      Op op = is_symbol("+") ? Op::Add : Op::Sub;
      advance();
      l = make(op, l, parse_product());
    }
    return l;
  }
  NodePtr parse_product() {
    NodePtr l = parse_unary();
    while (is_symbol("*") || is_symbol("/")) {
      Op op = is_symbol("*") ? Op::Mul : Op::Div;
      advance();
      l = make(op, l, parse_unary());
    }
    return l;
  }
  NodePtr parse_unary() {
    if (is_symbol("-")) { advance(); return make(Op::Neg, parse_unary(), nullptr); }
    if (is_word("not")) { advance(); return make(Op::Not, parse_unary(), nullptr); }
    return parse_primary();
  }
  NodePtr parse_primary() {
    if (tok_.kind == Token::Number) {
      auto n = std::make_shared<ExprNode>();
      n->op = Op::Number;
      n->number = tok_.number;
      advance();
      return n;
    }
    if (tok_.kind == Token::Ident) {
      if (tok_.text == "and" || tok_.text == "or" || tok_.text == "not")
        throw ExpressionError(tok_.column, "expected a value before '" + tok_.text + "' at column " +
                                               std::to_string(tok_.column));
      if (!is_known_feature(tok_.text))
        throw ExpressionError(tok_.column, "unknown feature '" + tok_.text + "' at column " +
                                               std::to_string(tok_.column) +
                                               " (see contracts/feature_names.hpp)");
      auto n = std::make_shared<ExprNode>();
      n->op = Op::Feature;
      n->feature = tok_.text;
      if (std::find(features.begin(), features.end(), tok_.text) == features.end()) features.push_back(tok_.text);
      advance();
      return n;
    }
    if (is_symbol("(")) {
      std::size_t col = tok_.column;
      advance();
      NodePtr n = parse_or();
      if (!is_symbol(")"))
        throw ExpressionError(col, "unclosed '(' at column " + std::to_string(col));
      advance();
      return n;
    }
    if (tok_.kind == Token::End) throw ExpressionError(text_.size() + 1, "expression ends where a value was expected");
    throw ExpressionError(tok_.column, "unexpected '" + tok_.text + "' at column " + std::to_string(tok_.column));
  }

  bool is_word(std::string_view w) const { return tok_.kind == Token::Ident && tok_.text == w; }
  bool is_symbol(std::string_view s) const { return tok_.kind == Token::Symbol && tok_.text == s; }

  void advance() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    tok_ = Token{};
    tok_.column = pos_ + 1;
    if (pos_ >= text_.size()) return;
    char c = text_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      std::size_t start = pos_;
      while (pos_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
                                     text_[pos_] == 'e' || text_[pos_] == 'E' ||
                                     ((text_[pos_] == '+' || text_[pos_] == '-') && pos_ > start &&
                                      (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E'))))
        ++pos_;
      std::string_view num = text_.substr(start, pos_ - start);
      double v = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
      if (ec != std::errc() || p != num.data() + num.size())
        throw ExpressionError(start + 1, "malformed number '" + std::string(num) + "' at column " +
                                             std::to_string(start + 1));
      if (pos_ < text_.size() && text_[pos_] == '%') { v /= 100.0; ++pos_; }
      tok_.kind = Token::Number;
      tok_.number = v;
      tok_.text = std::string(text_.substr(start, pos_ - start));
      return;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t start = pos_;
      while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
      tok_.kind = Token::Ident;
      tok_.text = std::string(text_.substr(start, pos_ - start));
      return;
    }
    static const std::string_view two[] = {">=", "<=", "==", "!="};
    for (auto s : two)
      if (text_.substr(pos_, 2) == s) {
        tok_.kind = Token::Symbol;
        tok_.text = std::string(s);
        pos_ += 2;
        return;
      }
    if (std::string_view("+-*/()<>").find(c) != std::string_view::npos) {
      tok_.kind = Token::Symbol;
      tok_.text = std::string(1, c);
      ++pos_;
      return;
    }
    throw ExpressionError(pos_ + 1, std::string("unexpected character '") + c + "' at column " +
                                        std::to_string(pos_ + 1));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  Token tok_;
};

bool truthy(double v) { return !std::isnan(v) && v != 0.0; }

double eval(const ExprNode& n, const FeatureWindow& w, double& first_lhs, bool& have_lhs) {
  auto cmp = [&](auto pred) {
    double l = eval(*n.lhs, w, first_lhs, have_lhs);
    if (!have_lhs) { first_lhs = l; have_lhs = true; }
    double r = eval(*n.rhs, w, first_lhs, have_lhs);
    if (std::isnan(l) || std::isnan(r)) return 0.0;
    return pred(l, r) ? 1.0 : 0.0;
  };
  switch (n.op) {
    case Op::Number: return n.number;
    case Op::Feature: return w.get(n.feature);
    case Op::Neg: return -eval(*n.lhs, w, first_lhs, have_lhs);
    case Op::Not: return truthy(eval(*n.lhs, w, first_lhs, have_lhs)) ? 0.0 : 1.0;
    case Op::Add: return eval(*n.lhs, w, first_lhs, have_lhs) + eval(*n.rhs, w, first_lhs, have_lhs);
    case Op::Sub: return eval(*n.lhs, w, first_lhs, have_lhs) - eval(*n.rhs, w, first_lhs, have_lhs);
    case Op::Mul: return eval(*n.lhs, w, first_lhs, have_lhs) * eval(*n.rhs, w, first_lhs, have_lhs);
    case Op::Div: {
      double l = eval(*n.lhs, w, first_lhs, have_lhs);
      double r = eval(*n.rhs, w, first_lhs, have_lhs);
      return r == 0.0 ? kAbsent : l / r;  // x/0 is "no data", never +inf that would trip a threshold
    }
    case Op::Gt: return cmp([](double a, double b) { return a > b; });
    case Op::Ge: return cmp([](double a, double b) { return a >= b; });
    case Op::Lt: return cmp([](double a, double b) { return a < b; });
    case Op::Le: return cmp([](double a, double b) { return a <= b; });
    case Op::Eq: return cmp([](double a, double b) { return a == b; });
    case Op::Ne: return cmp([](double a, double b) { return a != b; });
    case Op::And: {
      double l = eval(*n.lhs, w, first_lhs, have_lhs);
      double r = eval(*n.rhs, w, first_lhs, have_lhs);
      return truthy(l) && truthy(r) ? 1.0 : 0.0;
    }
    case Op::Or: {
      double l = eval(*n.lhs, w, first_lhs, have_lhs);
      double r = eval(*n.rhs, w, first_lhs, have_lhs);
      return truthy(l) || truthy(r) ? 1.0 : 0.0;
    }
  }
  return kAbsent;
}

}  // namespace

Expression Expression::compile(std::string_view text) {
  Parser p(text);
  Expression e;
  e.root_ = p.parse();
  e.text_ = std::string(text);
  e.features_ = std::move(p.features);
  return e;
}

Evaluation Expression::evaluate(const FeatureWindow& window) const {
  Evaluation out;
  bool have_lhs = false;
  double lhs = kAbsent;
  double v = eval(*root_, window, lhs, have_lhs);
  out.fired = truthy(v);
  out.value = have_lhs ? lhs : v;
  return out;
}

}  // namespace selfheal::rules
