#include "train/divergence.hpp"

#include <sstream>

namespace distill::train {

std::optional<std::string> divergence_message(const std::vector<double>& train_losses, int64_t window) {
    if (window <= 0 || train_losses.size() < static_cast<size_t>(window) + 1) return std::nullopt;
    const size_t first = train_losses.size() - static_cast<size_t>(window) - 1;
    for (size_t i = first + 1; i < train_losses.size(); ++i)
        if (!(train_losses[i] > train_losses[i - 1])) return std::nullopt;  // NaN never counts as a rise
    std::ostringstream message;
    message << "total loss increased for " << window << " consecutive epochs (" << train_losses[first] << " -> "
            << train_losses.back() << ")";
    return message.str();
}

}  // namespace distill::train
