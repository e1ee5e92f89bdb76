#include "bench/testing/json_reader.h"

#include <cmath>
#include <cstdlib>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ferry::bench::testing {
namespace {

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue v;
    if (absl::Status s = Value(&v, 0); !s.ok()) return s;
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing bytes after the value");
    return v;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("JSON error at byte ", pos_, ": ", what));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  absl::Status Value(JsonValue* v, int depth) {
    if (depth > 64) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return Object(v, depth);
    if (c == '[') return Array(v, depth);
    if (c == '"') {
      v->type = JsonValue::Type::kString;
      return String(&v->string);
    }
    if (Literal("true")) {
      v->type = JsonValue::Type::kBool;
      v->boolean = true;
      return absl::OkStatus();
    }
    if (Literal("false")) {
      v->type = JsonValue::Type::kBool;
      return absl::OkStatus();
    }
    if (Literal("null")) {
      v->type = JsonValue::Type::kNull;
      return absl::OkStatus();
    }
    return Number(v);
  }

  absl::Status Object(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kObject;
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return absl::OkStatus();
    }
    std::set<std::string> keys;
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a key");
      std::string key;
      if (absl::Status s = String(&key); !s.ok()) return s;
      if (!keys.insert(key).second) return Error(absl::StrCat("duplicate key \"", key, "\""));
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      JsonValue member;
      if (absl::Status s = Value(&member, depth + 1); !s.ok()) return s;
      v->object.emplace_back(std::move(key), std::move(member));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error("expected ',' or '}'");
    }
  }

  absl::Status Array(JsonValue* v, int depth) {
    v->type = JsonValue::Type::kArray;
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      JsonValue item;
      if (absl::Status s = Value(&item, depth + 1); !s.ok()) return s;
      v->array.push_back(std::move(item));
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error("expected ',' or ']'");
    }
  }

  absl::Status Hex4(unsigned* out) {
    if (pos_ + 4 > text_.size()) return Error("short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') {
        v |= static_cast<unsigned>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        v |= static_cast<unsigned>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        v |= static_cast<unsigned>(h - 'A' + 10);
      } else {
        return Error("bad hex digit in \\u escape");
      }
    }
    *out = v;
    return absl::OkStatus();
  }

  static void AppendUtf8(unsigned cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xC0 | (cp >> 6));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xE0 | (cp >> 12));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (cp >> 18));
      *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  absl::Status String(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return absl::OkStatus();
      if (c < 0x20) return Error("control character in a string");
      if (c != '\\') {
        *out += static_cast<char>(c);
        continue;
      }
      if (pos_ >= text_.size()) return Error("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          *out += e;
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        case 'u': {
          unsigned cp;
          if (absl::Status s = Hex4(&cp); !s.ok()) return s;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low;
            if (!Literal("\\u")) return Error("high surrogate without its pair");
            if (absl::Status s = Hex4(&low); !s.ok()) return s;
            if (low < 0xDC00 || low > 0xDFFF) return Error("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
  }

  absl::Status Number(JsonValue* v) {
    const size_t start = pos_;
    auto digit = [&] { return pos_ < text_.size() && absl::ascii_isdigit(text_[pos_]); };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (!digit()) return Error("expected a value");
    if (text_[pos_] == '0') {
      ++pos_;
      if (digit()) return Error("leading zero");
    } else {
      while (digit()) ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digit()) return Error("digits expected after '.'");
      while (digit()) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digit()) return Error("digits expected in the exponent");
      while (digit()) ++pos_;
    }
    const std::string literal(text_.substr(start, pos_ - start));
    v->type = JsonValue::Type::kNumber;
    v->number = std::strtod(literal.c_str(), nullptr);
    if (!std::isfinite(v->number)) return Error("number out of range");
    return absl::OkStatus();
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

using Type = JsonValue::Type;

bool IsInteger(const JsonValue& v) {
  return v.type == Type::kNumber && std::floor(v.number) == v.number;
}

class SchemaChecker {
 public:
  std::vector<std::string> problems;

  void Add(const std::string& where, const std::string& what) {
    problems.push_back(absl::StrCat(where, ": ", what));
  }

  // Checks that `obj` has exactly the keys in `required` plus any of `optional`.
  void Keys(const JsonValue& obj, const std::string& where, const std::set<std::string>& required,
            const std::set<std::string>& optional) {
    for (const std::string& k : required) {
      if (obj.Find(k) == nullptr) Add(where, absl::StrCat("missing key \"", k, "\""));
    }
    for (const auto& [k, v] : obj.object) {
      if (required.count(k) == 0 && optional.count(k) == 0) {
        Add(where, absl::StrCat("unexpected key \"", k, "\""));
      }
    }
  }

  const JsonValue* Get(const JsonValue& obj, const std::string& where, absl::string_view key,
                       Type type) {
    const JsonValue* v = obj.Find(key);
    if (v == nullptr) return nullptr;  // reported by Keys()
    if (v->type != type) {
      Add(where, absl::StrCat("\"", key, "\" has the wrong type"));
      return nullptr;
    }
    return v;
  }

  void NonNegativeInt(const JsonValue& obj, const std::string& where, absl::string_view key) {
    const JsonValue* v = Get(obj, where, key, Type::kNumber);
    if (v != nullptr && (!IsInteger(*v) || v->number < 0)) {
      Add(where, absl::StrCat("\"", key, "\" is not a non-negative integer"));
    }
  }

  void Array(const JsonValue& obj, const std::string& where, absl::string_view key, Type item) {
    const JsonValue* v = Get(obj, where, key, Type::kArray);
    if (v == nullptr) return;
    for (const JsonValue& e : v->array) {
      if (e.type != item || (item == Type::kNumber && (!IsInteger(e) || e.number < 0))) {
        Add(where, absl::StrCat("\"", key, "\" holds an item of the wrong type"));
        return;
      }
    }
  }

  void Setup(const JsonValue& s) {
    const std::string where = "setup";
    if (s.type != Type::kObject) return Add(where, "not an object");
    Keys(s, where,
         {"cpu_model", "cores", "kernel", "hostname", "pinning", "location", "sizes",
          "concurrency", "iterations", "warmup", "duration_s", "open_loop_rate",
          "open_loop_load", "modes",
          "ferry_version", "date"},
         {});
    for (const char* k : {"cpu_model", "kernel", "hostname", "pinning", "location",
                          "ferry_version", "date"}) {
      Get(s, where, k, Type::kString);
    }
    for (const char* k : {"cores", "iterations", "warmup"}) NonNegativeInt(s, where, k);
    for (const char* k : {"duration_s", "open_loop_rate", "open_loop_load"}) {
      Get(s, where, k, Type::kNumber);
    }
    Array(s, where, "sizes", Type::kNumber);
    Array(s, where, "concurrency", Type::kNumber);
    Array(s, where, "modes", Type::kString);
    if (const JsonValue* d = Get(s, where, "date", Type::kString);
        d != nullptr && (d->string.size() != 20 || d->string[10] != 'T' || d->string[19] != 'Z')) {
      Add(where, absl::StrCat("date \"", d->string, "\" is not YYYY-MM-DDTHH:MM:SSZ"));
    }
  }

  void Result(const JsonValue& r, size_t index) {
    const std::string where = absl::StrCat("results[", index, "]");
    if (r.type != Type::kObject) return Add(where, "not an object");
    static const std::set<std::string> kFigures = {
        "p50_us",      "p90_us",   "p99_us",         "p999_us", "max_us",
        "mean_us",     "calls_per_s", "mb_per_s",    "cpu_us_per_call", "offered_calls_per_s"};
    Keys(r, where,
         {"impl", "transport", "variant", "mode", "size", "concurrency", "percentiles", "errors"},
         kFigures);
    const JsonValue* impl = Get(r, where, "impl", Type::kString);
    if (impl != nullptr && impl->string != "ferry" && impl->string != "raw" &&
        impl->string != "rawpb" && impl->string != "grpc") {
      Add(where, absl::StrCat("unknown impl \"", impl->string, "\""));
    }
    Get(r, where, "transport", Type::kString);
    Get(r, where, "variant", Type::kString);
    const JsonValue* mode = Get(r, where, "mode", Type::kString);
    const std::string m = mode != nullptr ? mode->string : "";
    if (mode != nullptr && m != "latency" && m != "throughput" && m != "open_loop") {
      Add(where, absl::StrCat("unknown mode \"", m, "\""));
    }
    NonNegativeInt(r, where, "size");
    NonNegativeInt(r, where, "concurrency");
    NonNegativeInt(r, where, "errors");
    for (const std::string& f : kFigures) {
      const JsonValue* v = Get(r, where, f, Type::kNumber);
      if (v != nullptr && v->number < 0) Add(where, absl::StrCat("\"", f, "\" is negative"));
    }
    // Figures a mode does not measure must be absent.
    if (m == "latency" || m == "open_loop") {
      for (const char* f : {"mb_per_s", "cpu_us_per_call"}) {
        if (r.Find(f) != nullptr) Add(where, absl::StrCat(m, " result has \"", f, "\""));
      }
    }
    if (m != "open_loop" && r.Find("offered_calls_per_s") != nullptr) {
      Add(where, absl::StrCat(m, " result has \"offered_calls_per_s\""));
    }
    if (const JsonValue* p = Get(r, where, "percentiles", Type::kArray); p != nullptr) {
      double last_p = -1, last_us = -1;
      for (const JsonValue& point : p->array) {
        if (point.type != Type::kObject) {
          Add(where, "a percentile point is not an object");
          break;
        }
        Keys(point, where + " percentile point", {"p", "us"}, {});
        const JsonValue* pp = Get(point, where, "p", Type::kNumber);
        const JsonValue* us = Get(point, where, "us", Type::kNumber);
        if (pp == nullptr || us == nullptr) break;
        if (pp->number < 0 || pp->number > 100 || pp->number <= last_p || us->number < last_us) {
          Add(where, "percentile points are not increasing within [0, 100]");
          break;
        }
        last_p = pp->number;
        last_us = us->number;
      }
    }
  }
};

}  // namespace

const JsonValue* JsonValue::Find(absl::string_view key) const {
  for (const auto& [k, v] : object) {
    if (k == key) return &v;
  }
  return nullptr;
}

absl::StatusOr<JsonValue> ParseJson(absl::string_view text) { return Parser(text).ParseDocument(); }

std::vector<std::string> CheckBenchSchema(const JsonValue& root) {
  SchemaChecker c;
  if (root.type != Type::kObject) {
    c.Add("root", "not an object");
    return c.problems;
  }
  c.Keys(root, "root", {"schema_version", "setup", "results"}, {});
  const JsonValue* version = c.Get(root, "root", "schema_version", Type::kNumber);
  if (version != nullptr && version->number != 1) c.Add("root", "schema_version is not 1");
  if (const JsonValue* setup = root.Find("setup"); setup != nullptr) c.Setup(*setup);
  if (const JsonValue* results = c.Get(root, "root", "results", Type::kArray); results != nullptr) {
    for (size_t i = 0; i < results->array.size(); ++i) c.Result(results->array[i], i);
  }
  return c.problems;
}

}  // namespace ferry::bench::testing
