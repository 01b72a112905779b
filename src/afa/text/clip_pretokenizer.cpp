#include "afa/text/clip_pretokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/uniset.h>
#include <unicode/unistr.h>

#include <memory>

#include "afa/util/error.h"

namespace afa::text {

std::u32string utf8_decode(const std::string& s, const std::string& what) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    char32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, len = 4;
    } else {
      fail(what, " is not valid UTF-8 (byte ", static_cast<int>(c), " at offset ", i, ")");
    }
    AFA_CHECK(i + len <= n, what, " is not valid UTF-8 (truncated sequence at offset ", i, ")");
    for (size_t k = 1; k < len; ++k) {
      AFA_CHECK((p[i + k] & 0xC0) == 0x80, what, " is not valid UTF-8 (bad continuation byte at offset ",
                i + k, ")");
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 (Python refuses them too).
    static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    AFA_CHECK(cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), what,
              " is not valid UTF-8 (bad code point at offset ", i, ")");
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

namespace {

icu::UnicodeString to_icu(const std::u32string& s) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()),
                                       static_cast<int32_t>(s.size()));
}

std::u32string from_icu(const icu::UnicodeString& u) {
  std::u32string out(static_cast<size_t>(u.countChar32()), U'\0');
  UErrorCode status = U_ZERO_ERROR;
  u.toUTF32(reinterpret_cast<UChar32*>(out.data()), static_cast<int32_t>(out.size()), status);
  AFA_INTERNAL_ASSERT(U_SUCCESS(status), "ICU UTF-32 conversion failed: ", u_errorName(status));
  return out;
}

// BasicTokenizer._is_control: category C* except tab, newline and carriage return.
bool is_control(char32_t c) {
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_PRIVATE_USE_CHAR: case U_SURROGATE:
    case U_UNASSIGNED:
      return true;
    default:
      return false;
  }
}

// BasicTokenizer._is_whitespace: space, \t \n \r, or category Zs.
bool is_bert_whitespace(char32_t c) {
  return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' ||
         u_charType(static_cast<UChar32>(c)) == U_SPACE_SEPARATOR;
}

// Python's str.isspace(), which str.split() uses (whitespace_tokenize).
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// BasicTokenizer._is_chinese_char: the CJK Unified Ideograph blocks (not Hangul, kana).
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// The regex module matches a property class under IGNORECASE when any case variant of the character
// has the property (e.g. U+0345, a combining mark whose upper case is Greek Iota, counts as a letter).
struct CaseClosedSets {
  std::unique_ptr<icu::UnicodeSet> letter, number;
  CaseClosedSets() {
    UErrorCode status = U_ZERO_ERROR;
    letter = std::make_unique<icu::UnicodeSet>(icu::UnicodeString(u"[\\p{L}]"), status);
    number = std::make_unique<icu::UnicodeSet>(icu::UnicodeString(u"[\\p{N}]"), status);
    AFA_INTERNAL_ASSERT(U_SUCCESS(status), "ICU UnicodeSet construction failed: ", u_errorName(status));
    letter->closeOver(USET_CASE_INSENSITIVE);
    number->closeOver(USET_CASE_INSENSITIVE);
    letter->freeze();
    number->freeze();
  }
};

const CaseClosedSets& sets() {
  static const CaseClosedSets s;
  return s;
}

bool is_letter(char32_t c) { return sets().letter->contains(static_cast<UChar32>(c)); }
bool is_number(char32_t c) { return sets().number->contains(static_cast<UChar32>(c)); }

// IGNORECASE literal match (simple case folding, so "ſ" matches "s" as in the regex module).
size_t match_literal_ci(const std::u32string& t, size_t pos, const char* lit) {
  size_t i = pos;
  for (const char* p = lit; *p; ++p, ++i) {
    if (i >= t.size()) return 0;
    if (u_foldCase(static_cast<UChar32>(t[i]), U_FOLD_CASE_DEFAULT) !=
        u_foldCase(static_cast<UChar32>(static_cast<unsigned char>(*p)), U_FOLD_CASE_DEFAULT)) {
      return 0;
    }
  }
  return i - pos;
}

}  // namespace

std::u32string basic_clean(const std::u32string& text) {
  // _clean_text, then _tokenize_chinese_chars.
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_bert_whitespace(c)) {
      cleaned.push_back(U' ');
    } else if (is_cjk(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }

  // NFC, so that decomposed and precomposed accents tokenize alike.
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  AFA_INTERNAL_ASSERT(U_SUCCESS(status), "ICU NFC normalizer unavailable: ", u_errorName(status));
  icu::UnicodeString normalized = nfc->normalize(to_icu(cleaned), status);
  AFA_INTERNAL_ASSERT(U_SUCCESS(status), "ICU NFC normalization failed: ", u_errorName(status));
  const std::u32string nfc_text = from_icu(normalized);

  // whitespace_tokenize, re-joined with single spaces.
  std::u32string joined;
  joined.reserve(nfc_text.size());
  bool pending_space = false;
  for (char32_t c : nfc_text) {
    if (is_python_space(c)) {
      pending_space = !joined.empty();
      continue;
    }
    if (pending_space) joined.push_back(U' ');
    pending_space = false;
    joined.push_back(c);
  }

  // Python's str.lower(): full lower-case mapping (e.g. U+0130 -> "i\u0307") with final sigma, which the
  // ICU root locale applies too. Lower-casing each word or the joined text gives the same result, since a
  // space is neither cased nor case-ignorable.
  icu::UnicodeString u = to_icu(joined);
  u.toLower(icu::Locale::getRoot());
  return from_icu(u);
}

std::vector<std::string> clip_regex_split(const std::u32string& t) {
  static const char* const kAlternatives[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re",
                                               "'ve",             "'m",            "'ll", "'d"};
  std::vector<std::string> pieces;
  size_t pos = 0;
  const size_t n = t.size();
  while (pos < n) {
    size_t len = 0;
    for (const char* alt : kAlternatives) {
      if ((len = match_literal_ci(t, pos, alt)) != 0) break;
    }
    if (len == 0 && is_letter(t[pos])) {
      len = 1;
      while (pos + len < n && is_letter(t[pos + len])) ++len;
    } else if (len == 0 && is_number(t[pos])) {
      len = 1;
    } else if (len == 0) {
      auto other = [](char32_t c) { return !u_isUWhiteSpace(static_cast<UChar32>(c)) && !is_letter(c) &&
                                           !is_number(c); };
      while (pos + len < n && other(t[pos + len])) ++len;
    }
    if (len == 0) {  // whitespace: no match starts here
      ++pos;
      continue;
    }
    pieces.push_back(utf8_encode(t.substr(pos, len)));
    pos += len;
  }
  return pieces;
}

std::vector<PromptChunk> split_special_tokens(const std::string& text,
                                              const std::vector<std::string>& specials) {
  std::vector<PromptChunk> chunks;
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    const std::string* hit = nullptr;
    for (const auto& s : specials) {  // longest special starting here
      if (!s.empty() && text.compare(pos, s.size(), s) == 0 && (!hit || s.size() > hit->size())) hit = &s;
    }
    if (!hit) {
      ++pos;
      continue;
    }
    if (pos > start) chunks.push_back({text.substr(start, pos - start), false});
    chunks.push_back({*hit, true});
    pos += hit->size();
    start = pos;
  }
  if (start < text.size()) chunks.push_back({text.substr(start), false});
  return chunks;
}

}  // namespace afa::text
