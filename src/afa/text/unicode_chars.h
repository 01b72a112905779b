// Character classes and conversions shared by the CLIP and BERT tokenizers: transformers' BasicTokenizer
// predicates (what it drops, what counts as whitespace or CJK), Python's str.isspace(), and ICU
// round trips.
#pragma once

#include <unicode/unistr.h>

#include <string>

namespace afa::text {

// BasicTokenizer._is_control: category C* except tab, newline and carriage return.
bool is_control(char32_t c);
// BasicTokenizer._is_whitespace: space, \t \n \r, or category Zs.
bool is_bert_whitespace(char32_t c);
// Python's str.isspace(), which str.split() uses (whitespace_tokenize).
bool is_python_space(char32_t c);
// BasicTokenizer._is_chinese_char: the CJK Unified Ideograph blocks (not Hangul, kana).
bool is_cjk(char32_t c);
// BasicTokenizer._is_punctuation: ASCII non-letters/digits/space (33-47, 58-64, 91-96, 123-126) or P*.
bool is_bert_punctuation(char32_t c);
// Category Mn (what BasicTokenizer._run_strip_accents drops after NFD).
bool is_nonspacing_mark(char32_t c);

icu::UnicodeString to_icu(const std::u32string& s);
std::u32string from_icu(const icu::UnicodeString& u);

// Root-locale full lower-case mapping (Python's str.lower() of the same text).
std::u32string to_lower(const std::u32string& s);
// Unicode normal forms.
std::u32string nfc(const std::u32string& s);
std::u32string nfd(const std::u32string& s);

}  // namespace afa::text
