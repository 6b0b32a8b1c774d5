// Learning rate per epoch: cosine annealing stepped once per epoch
// (T_max = epochs, as torch.optim.lr_scheduler.CosineAnnealingLR), or constant.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace distill::train {

inline double learning_rate_at(const std::string& scheduler, double base_lr, double eta_min, int64_t epoch,
                               int64_t total_epochs) {
    if (scheduler != "cosine" || total_epochs <= 0) return base_lr;
    const double progress = static_cast<double>(epoch) / static_cast<double>(total_epochs);
    return eta_min + (base_lr - eta_min) * (1.0 + std::cos(M_PI * progress)) / 2.0;
}

}  // namespace distill::train
