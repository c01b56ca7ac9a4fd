// The default texts of a needle-in-a-haystack prompt (wkv needle): the filler
// sentences, the needle with its key, the question and the start of the reply.
// The constructed retrieval model (model/retrieval_model.hpp) has a whole-word
// vocabulary for exactly these, so they are one list for both.
#pragma once

namespace wkv::needle_text {

// No sentence of the filler has "is" or "key" in it, so the only "key is" before the
// question's is the needle's: a model that matches the two tokens before it finds the key.
inline constexpr const char* kFiller[] = {
    "The river runs past the old mill.", "Birds sing in the morning.", "The road goes on over the hill.",
    "A cat sleeps by the fire.",         "Rain falls on the roof.",
};
inline constexpr const char* kIntro = "There is a pass key hidden in the text below. Find it and remember it.";
inline constexpr const char* kNeedle = "The pass key is {key}. Remember it.";
inline constexpr const char* kQuestion = "What is the pass key?";
inline constexpr const char* kAnswerPrefix = "The pass key is";

}  // namespace wkv::needle_text
