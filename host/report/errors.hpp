// Bad report input: an unknown run, sweep or metric, an output path that
// cannot be written, Chart.js missing. The message names the id, key or file.
#pragma once

#include <stdexcept>

namespace distill::report {

class ReportError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace distill::report
