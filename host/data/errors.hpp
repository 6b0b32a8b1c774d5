// The data pipeline's one exception type: bad corpus input the user can fix
// (missing folder, no usable audio, corpus too small for the split, bad
// [data] setting). The CLI maps it to exit status 2.
#pragma once

#include <stdexcept>

namespace distill::data {

class DataError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace distill::data
