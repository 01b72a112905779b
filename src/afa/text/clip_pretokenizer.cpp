#include "afa/text/clip_pretokenizer.h"

#include <unicode/uchar.h>
#include <unicode/uniset.h>
#include <unicode/unistr.h>

#include <memory>

#include "afa/text/unicode_chars.h"
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
  const std::u32string nfc_text = nfc(cleaned);

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
  return to_lower(joined);
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
