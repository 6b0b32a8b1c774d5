// The divergence rule of docs/reference.md#4-training, as a pure function so it
// can be tested on plain numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace distill::train {

// When each of the last `window` epoch train losses rises strictly over the
// one before it (window + 1 values), returns
// "total loss increased for N consecutive epochs (a -> b)"; else nothing.
std::optional<std::string> divergence_message(const std::vector<double>& train_losses, int64_t window);

}  // namespace distill::train
