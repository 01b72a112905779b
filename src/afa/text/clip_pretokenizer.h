// The Unicode half of CLIP tokenization, before BPE: how transformers' CLIPTokenizer (>= 4.31, no ftfy)
// cuts a prompt into pieces. Kept apart from the BPE so that each can be checked on its own.
#pragma once

#include <string>
#include <vector>

namespace afa::text {

// Strict UTF-8 -> code points; throws afa::Error (naming `what`) on malformed input.
std::u32string utf8_decode(const std::string& s, const std::string& what = "text");
std::string utf8_encode(const std::u32string& s);

// BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text) joined by single spaces,
// then lower-cased as CLIPTokenizer._tokenize does: drop NUL, U+FFFD and category C* (but \t \n \r),
// whitespace and Zs -> ' ', spaces around CJK ideographs, NFC, split on Python whitespace, lower-case.
std::u32string basic_clean(const std::u32string& text);

// CLIP's regex (IGNORECASE)
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// applied with findall, returning the matched pieces in UTF-8.
std::vector<std::string> clip_regex_split(const std::u32string& text);

// A chunk of the prompt: either one literal special token or text to clean, split and BPE.
struct PromptChunk {
  std::string text;
  bool special = false;
};
// Splits out exact (case-sensitive) occurrences of the special tokens, as transformers' added-token
// trie does before _tokenize. Empty chunks are omitted. (transformers also strips whitespace next to a
// special token; basic_clean drops that whitespace anyway.)
std::vector<PromptChunk> split_special_tokens(const std::string& text,
                                              const std::vector<std::string>& specials);

}  // namespace afa::text
