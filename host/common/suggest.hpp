// "Did you mean ...?" for unknown keys and ids.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace distill {

// The candidate closest to `word` by edit distance, when it is close enough
// to be a plausible typo (at most a third of the word's length, at least 2).
std::optional<std::string> nearest(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace distill
