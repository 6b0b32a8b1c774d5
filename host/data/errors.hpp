// The data pipeline's exception types. DataError: bad corpus input the user
// can fix (missing folder, no usable audio, corpus too small for the split,
// bad [data] setting); the CLI maps it to exit status 2. OutOfMemory: an
// allocation failed, and the message says what was being allocated.
#pragma once

#include <new>
#include <stdexcept>
#include <string>

namespace distill::data {

class DataError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A std::bad_alloc that says what it was allocating ("out of memory while
// ..."), so callers that catch std::bad_alloc keep working.
class OutOfMemory : public std::bad_alloc {
public:
    explicit OutOfMemory(std::string what) : what_(std::move(what)) {}
    const char* what() const noexcept override { return what_.c_str(); }

private:
    std::string what_;
};

// True for std::bad_alloc and for LibTorch's allocator failure (a c10::Error
// whose message says "can't allocate memory").
bool is_allocation_failure(const std::exception& e);

}  // namespace distill::data
