#include "data/errors.hpp"

#include <cstring>

namespace distill::data {

bool is_allocation_failure(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return true;
    // LibTorch reports a failed allocation as c10::Error (CPU: "can't
    // allocate memory", CUDA: "CUDA out of memory"); data/ only sees it as
    // std::exception, so the message is what tells it apart.
    const char* m = e.what();
    return std::strstr(m, "can't allocate memory") != nullptr || std::strstr(m, "out of memory") != nullptr;
}

}  // namespace distill::data
